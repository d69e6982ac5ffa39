//! Idle workers and spinning (Go's `nmspinning`/`npidle`, in tokio's `idle.rs` shape).
//!
//! A worker out of work first *searches* (Go: "spins"): it steals from the others. Waking
//! a sleeping worker costs a futex syscall, so readying work wakes one only if nobody is
//! searching already — a searcher will find the work. The protocol that makes this safe:
//!
//! * **Submitting work**: 1) push the G, 2) SeqCst read of `state` (StoreLoad), 3) if no
//!   worker is searching and one is asleep, wake it ([`Idle::worker_to_notify`]).
//! * **Leaving the searching state**: 1) decrement `num_searching` (SeqCst), 2) if this was
//!   the last searcher and it found work, wake another one (there may be more work), or
//!   if it is going to sleep, re-check every queue first ([`Idle::transition_worker_to_parked`]
//!   returns "last searcher").
//!
//! Either the submitter sees a searcher (who will see the G, because the searcher's
//! decrement comes after its last look and both are SeqCst), or the submitter wakes
//! someone. At most half the workers search at once (Go: "limit the number of spinning Ms
//! to half the number of busy Ps"), so stealing does not burn every core.
//!
//! # Invariants (`state` packs two counts)
//! 1. `num_unparked` = workers not in `sleepers`; `num_searching <= num_unparked`.
//! 2. A worker is in `sleepers` iff it decided to sleep and nobody has chosen it to wake.
//!
//! # Lock order
//! `sleepers` is a leaf lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const UNPARK_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;

#[derive(Debug)]
pub(crate) struct Idle {
    /// `num_unparked << 16 | num_searching`.
    state: AtomicUsize,
    /// Indices of sleeping workers.
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

fn searching(s: usize) -> usize {
    s & SEARCH_MASK
}

fn unparked(s: usize) -> usize {
    s >> UNPARK_SHIFT
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCH_MASK, "goro: too many workers");
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn sleepers(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
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
        // SeqCst: pairs with the read in `should_wake` of concurrent submitters.
        self.state
            .fetch_add(1 | (1 << UNPARK_SHIFT), Ordering::SeqCst);
        Some(idx)
    }

    fn should_wake(&self) -> bool {
        // A read-modify-write, not a load: the StoreLoad barrier of step 2 above (the G was
        // pushed before; this must not be reordered before the push).
        let s = self.state.fetch_add(0, Ordering::SeqCst);
        searching(s) == 0 && unparked(s) < self.num_workers
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

    /// `transition_worker_from_searching` for a worker that found work, waking another
    /// worker if it was the last searcher.
    pub(crate) fn transition_worker_from_searching_if(
        &self,
        searching: &mut bool,
        shared: &super::Shared,
    ) {
        if std::mem::take(searching) && self.transition_worker_from_searching() {
            shared.notify_parked();
        }
    }

    /// A worker goes to sleep. True if it was the last searcher: it must then re-check all
    /// queues, since a submitter may have counted on it.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers();
        let dec = (1 << UNPARK_SHIFT) + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// A sleeping worker woke on its own (timer, shutdown) and has work: take it out of
    /// `sleepers`. False if somebody already chose it (it then counts as searching).
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers();
        if let Some(i) = sleepers.iter().position(|&w| w == worker) {
            sleepers.swap_remove(i);
            self.state.fetch_add(1 << UNPARK_SHIFT, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    /// True if the worker is still asleep (nobody chose it).
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.sleepers().contains(&worker)
    }

    /// (searching, sleeping) counts, for metrics and tests.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let s = self.state.load(Ordering::SeqCst);
        (searching(s), self.num_workers - unparked(s))
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
        assert!(idle.transition_worker_to_parked(1, true), "last searcher");
        assert_eq!(idle.counts(), (0, 1));
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert_eq!(idle.counts(), (1, 0), "the woken worker searches");
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.transition_worker_from_searching());
    }

    #[test]
    fn self_wake_leaves_sleepers() {
        let idle = Idle::new(3);
        assert!(!idle.transition_worker_to_parked(2, false));
        assert!(idle.is_parked(2));
        assert!(idle.unpark_worker_by_id(2));
        assert!(!idle.is_parked(2));
        assert!(!idle.unpark_worker_by_id(2));
        assert_eq!(idle.counts(), (0, 0));
    }
}
