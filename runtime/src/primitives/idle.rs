//! Idle workers and spinning (Go's `nmspinning`/`npidle`, in tokio's `idle.rs` shape).
//!
//! A worker out of work first *searches* (Go: "spins"): it steals from the others. Waking
//! a sleeping worker costs a futex syscall, so readying work wakes one only if nobody is
//! searching already — a searcher will find the work. The protocol that makes this safe:
//!
//! * **Submitting work**: 1) push the G, 2) a SeqCst fence (StoreLoad), 3) read `state`;
//!   if no worker is searching and one is asleep, wake it ([`Idle::worker_to_notify`]).
//! * **Leaving the searching state**: 1) decrement `num_searching` (SeqCst), 2) if this was
//!   the last searcher and it found work, wake another one (there may be more work), or
//!   if it is going to sleep, issue a SeqCst fence and re-check every queue
//!   ([`Idle::transition_worker_to_sleeping`] returns "last searcher";
//!   `Sched::wake_if_work_pending` re-checks).
//!
//! Either the submitter sees a searcher (who will see the G), or the submitter wakes
//! someone: the two fences are ordered one way or the other, and whichever comes second
//! makes its thread see the other's write (the push, or the decrement).
//!
//! Step 2 is a fence plus plain loads rather than tokio's `fetch_add(0)`, and step 3 reads
//! `sleeping` (a copy of the number of sleepers, on its own cache line) before `state`.
//! Submitters run once per spawn and per wake-up, while searching workers write `state`
//! on every steal round: a read-modify-write there took the line away from them each
//! time, and even a plain read of it misses. `sleeping` changes only when a worker falls
//! asleep or wakes, so in a busy runtime the check is a cache hit. W1 (spawn) spent ~15%
//! of the spawning worker's time on that one line.
//!
//! Reading `sleeping` first loses no wake-up: a worker that goes to sleep publishes
//! `sleeping` before its fence and re-check (if it was the last searcher), and one that was
//! not searching sleeps only while another worker searches, which re-checks in turn.
//!
//! At most half the workers search at once (Go: "limit the number of spinning Ms to half
//! the number of busy Ps"), so stealing does not burn every core.
//!
//! # Invariants (`state` packs two counts)
//! 1. `num_awake` = workers not in `sleepers`; `num_searching <= num_awake`.
//! 2. A worker is in `sleepers` iff it decided to sleep and nobody has chosen it to wake.
//! 3. `sleeping` = `sleepers.len()` whenever the `sleepers` lock is free (it is stored
//!    under the lock after every change).
//!
//! # Lock order
//! `sleepers` is a leaf lock.

use crate::lock::Mutex;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

const AWAKE_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << AWAKE_SHIFT) - 1;

#[derive(Debug)]
pub(crate) struct Idle {
    /// `num_awake << 16 | num_searching`, alone on its line: searching workers write it
    /// on every steal round, every submitter reads it.
    state: CachePadded<AtomicUsize>,
    /// `sleepers.len()` (invariant 3), read by submitters before `state`.
    sleeping: CachePadded<AtomicUsize>,
    /// Indices of sleeping workers.
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

fn searching(s: usize) -> usize {
    s & SEARCH_MASK
}

fn awake(s: usize) -> usize {
    s >> AWAKE_SHIFT
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCH_MASK, "goro: too many workers");
        Idle {
            state: CachePadded::new(AtomicUsize::new(num_workers << AWAKE_SHIFT)),
            sleeping: CachePadded::new(AtomicUsize::new(0)),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn sleepers(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock()
    }

    /// Restores invariant 3 after a change to `sleepers` (called with the lock held).
    fn publish_sleeping(&self, sleepers: &[usize]) {
        self.sleeping.store(sleepers.len(), Ordering::SeqCst);
    }

    /// Work was just made available: the worker to wake, if one should be. The chosen
    /// worker leaves `sleepers` and counts as searching.
    #[doc(alias = "wakep")]
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = self.sleepers();
        if !self.should_wake() {
            return None;
        }
        let idx = sleepers.pop()?;
        // SeqCst: ordered with the fence in `should_wake` of concurrent submitters.
        self.state
            .fetch_add(1 | (1 << AWAKE_SHIFT), Ordering::SeqCst);
        self.publish_sleeping(&sleepers);
        Some(idx)
    }

    fn should_wake(&self) -> bool {
        // Step 2 above: the G was pushed before; this read must not move before the push.
        // Pairs with the fence in `Sched::wake_if_work_pending`.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let s = self.state.load(Ordering::Relaxed);
        searching(s) == 0 && awake(s) < self.num_workers
    }

    /// A worker with nothing to run asks to search; refused when half are searching.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if 2 * searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searching worker found work. True if it was the last searcher (it must then
    /// wake another worker: where there was one G there may be more).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        // SeqCst: pairs with `should_wake`.
        let prev = self.state.fetch_sub(1, Ordering::SeqCst);
        searching(prev) == 1
    }

    /// A worker goes to sleep. True if it was the last searcher: it must then re-check all
    /// queues, since a submitter may have counted on it.
    pub(crate) fn transition_worker_to_sleeping(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers();
        let dec = (1 << AWAKE_SHIFT) + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(worker);
        self.publish_sleeping(&sleepers);
        is_searching && searching(prev) == 1
    }

    /// A sleeping worker woke on its own (timer, shutdown) and has work: take it out of
    /// `sleepers`. False if somebody already chose it (it then counts as searching).
    pub(crate) fn wake_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers();
        if let Some(i) = sleepers.iter().position(|&w| w == worker) {
            sleepers.swap_remove(i);
            self.state.fetch_add(1 << AWAKE_SHIFT, Ordering::SeqCst);
            self.publish_sleeping(&sleepers);
            true
        } else {
            false
        }
    }

    /// True if the worker is still asleep (nobody chose it).
    pub(crate) fn is_sleeping(&self, worker: usize) -> bool {
        self.sleepers().contains(&worker)
    }

    /// (searching, sleeping) counts, for metrics and tests.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let s = self.state.load(Ordering::SeqCst);
        (searching(s), self.num_workers - awake(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_only_when_nobody_searches() {
        let idle = Idle::new(2);
        assert_eq!(idle.worker_to_notify(), None, "nobody sleeps");
        assert!(idle.transition_worker_to_searching());
        assert!(
            !idle.transition_worker_to_searching(),
            "at most half search"
        );
        assert!(idle.transition_worker_to_sleeping(1, true), "last searcher");
        assert_eq!(idle.counts(), (0, 1));
        assert_eq!(idle.sleeping.load(Ordering::Relaxed), 1, "invariant 3");
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert_eq!(idle.counts(), (1, 0), "the woken worker searches");
        assert_eq!(idle.sleeping.load(Ordering::Relaxed), 0, "invariant 3");
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.transition_worker_from_searching());
    }

    #[test]
    fn self_wake_leaves_sleepers() {
        let idle = Idle::new(3);
        assert!(!idle.transition_worker_to_sleeping(2, false));
        assert!(idle.is_sleeping(2));
        assert_eq!(idle.sleeping.load(Ordering::Relaxed), 1, "invariant 3");
        assert!(idle.wake_worker_by_id(2));
        assert!(!idle.is_sleeping(2));
        assert_eq!(idle.sleeping.load(Ordering::Relaxed), 0, "invariant 3");
        assert!(!idle.wake_worker_by_id(2));
        assert_eq!(idle.counts(), (0, 0));
    }
}
