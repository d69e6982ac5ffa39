//! Timers: a runtime-wide deadline heap behind `sleep`, timed parks (channel timeouts) and
//! timer callbacks (`goro::time::{after, tick}`); socket deadlines will join them.
//!
//! Firing a timer unparks whoever waits on it. Timers are run by workers: each scheduling
//! round reads the earliest deadline (one relaxed atomic load, nothing when no timer is
//! pending) and fires what is due; when every worker is idle, exactly one of them — the
//! *timekeeper* — sleeps with the earliest deadline as its timeout, and inserting an earlier
//! timer wakes it (`Sched::timer_inserted`, `scheduler/mod.rs`; the timekeeper's sleep is
//! in `worker.rs`). This file is the heap; `driver.rs` arms timers on the caller's runtime
//! (or on the global timer thread) and holds the heap beside the netpoller.
//!
//! # Invariants
//! 1. `next` is the earliest `when` in `heap` (u64::MAX when empty), updated under `heap`'s
//!    lock; readers without the lock may see a stale value and only ever check too early
//!    (harmless) or learn about an earlier timer through the timekeeper wake-up.
//! 2. A `TimerWaker` is fired or cancelled at most once: whoever takes its action runs
//!    (or drops) it.
//!
//! Code outside any worker arms its timers on the global timer thread (`driver::arm`).
//!
//! # Lock order
//! `heap` is a leaf: wakers are unparked after it is released.

use crate::lock::Mutex;
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::park::Unparker;

/// Fires the timers of one batch in random order: timers due together are equal, and a
/// select waiting on two expired timer channels must pick either (crossbeam's and Go's
/// random choice), not always the one armed first. A Fisher–Yates pass with a splitmix64
/// stream seeded by the batch's time and a process-wide counter.
///
/// A synctest bubble's timers pass its seed instead of the counter (`seed != 0`): the
/// order is then a function of the seed and the (virtual) time, and a run replays.
fn shuffle<T>(v: &mut [T], now: u64, seed: u64) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let salt = match seed {
        0 => SEQ.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed),
        s => s,
    };
    let mut x = now ^ salt;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

impl crate::g::ArmedTimer for TimerWaker {
    fn cancel(&self) -> bool {
        TimerWaker::cancel(self)
    }
}

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wake a parked party (sleep, timed parks).
    Unpark(Unparker),
    /// Run a callback (timer channels). It runs on a worker's scheduler stack or on the
    /// global timer thread, so it must not block.
    Call(Box<dyn FnOnce() + Send>),
}

/// One armed timer: fired or cancelled at most once (invariant 2).
pub(crate) struct TimerWaker {
    fired: AtomicBool,
    action: Mutex<Option<Action>>,
}

impl std::fmt::Debug for TimerWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWaker")
            .field("fired", &self.has_fired())
            .finish()
    }
}

impl TimerWaker {
    pub(crate) fn new(unparker: Unparker) -> Arc<TimerWaker> {
        Self::with_action(Action::Unpark(unparker))
    }

    pub(crate) fn with_action(action: Action) -> Arc<TimerWaker> {
        Arc::new(TimerWaker {
            fired: AtomicBool::new(false),
            action: Mutex::new(Some(action)),
        })
    }

    pub(crate) fn has_fired(&self) -> bool {
        // Acquire: pairs with the release in `fire`.
        self.fired.load(Ordering::Acquire)
    }

    /// True while neither fired nor cancelled.
    fn is_armed(&self) -> bool {
        self.action.lock().is_some()
    }

    fn take(&self) -> Option<Action> {
        self.action.lock().take()
    }

    fn fire(&self) {
        if let Some(action) = self.take() {
            self.fired.store(true, Ordering::Release);
            match action {
                Action::Unpark(u) => u.unpark(),
                Action::Call(f) => f(),
            }
        }
    }

    /// Disarms the timer. True if it had not fired yet. Its heap entry stays until its
    /// deadline but holds nothing (the action is dropped here).
    pub(crate) fn cancel(&self) -> bool {
        self.take().is_some()
    }
}

struct Entry {
    when: u64,
    seq: u64,
    waker: Arc<TimerWaker>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (self.when, self.seq).cmp(&(o.when, o.seq))
    }
}

struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// Cancelled timers stay in the heap until their deadline; when it reaches this many
    /// entries, the cancelled ones are dropped and the mark set to twice what is left, so
    /// a million abandoned timers cost memory for at most twice the live ones (amortized
    /// O(1) per insert).
    compact_at: usize,
}

/// The smallest `compact_at`: below it a heap is never compacted.
const MIN_COMPACT: usize = 1024;

/// The timer heap of one runtime.
pub(crate) struct Timers {
    epoch: Instant,
    heap: Mutex<Heap>,
    /// Earliest deadline in nanoseconds since `epoch` (invariant 1).
    next: AtomicU64,
    /// Non-zero in a synctest bubble: the seed of the due-together order (`shuffle`).
    seed: AtomicU64,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("next", &self.next.load(Ordering::Relaxed))
            .finish()
    }
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            epoch: Instant::now(),
            heap: Mutex::new(Heap {
                entries: BinaryHeap::new(),
                seq: 0,
                compact_at: MIN_COMPACT,
            }),
            next: AtomicU64::new(u64::MAX),
            seed: AtomicU64::new(0),
        }
    }

    /// Makes the order of timers due together a function of `seed` (synctest bubbles).
    pub(crate) fn set_seed(&self, seed: u64) {
        self.seed.store(seed | 1, Ordering::Relaxed);
    }

    fn nanos(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(d).unwrap_or(u64::MAX - 1)
    }

    /// Adds a timer. True if it is now the earliest (the timekeeper must re-arm).
    pub(crate) fn insert(&self, when: Instant, waker: Arc<TimerWaker>) -> bool {
        let when = self.nanos(when);
        let mut h = self.heap.lock();
        h.seq += 1;
        let seq = h.seq;
        h.entries.push(Reverse(Entry { when, seq, waker }));
        if h.entries.len() >= h.compact_at {
            h.entries.retain(|Reverse(e)| e.waker.is_armed());
            h.compact_at = (2 * h.entries.len()).max(MIN_COMPACT);
            let next = h.entries.peek().map_or(u64::MAX, |Reverse(e)| e.when);
            self.next.store(next, Ordering::SeqCst);
        }
        let earliest = self.next.load(Ordering::Relaxed) > when;
        if earliest {
            // SeqCst: pairs with the timekeeper claiming its role before reading `next`.
            self.next.store(when, Ordering::SeqCst);
        }
        earliest
    }

    /// True if some timer is due at `now` (cheap pre-check without the lock).
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        let next = self.next.load(Ordering::Relaxed);
        next != u64::MAX && next <= self.nanos(now)
    }

    /// Cheap hot-path check: might a timer be pending? (Relaxed; see invariant 1.)
    pub(crate) fn is_pending_relaxed(&self) -> bool {
        self.next.load(Ordering::Relaxed) != u64::MAX
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match self.next.load(Ordering::SeqCst) {
            u64::MAX => None,
            n => Some(self.epoch + Duration::from_nanos(n)),
        }
    }

    /// Fires every timer due at `now`; returns how many.
    pub(crate) fn fire_due(&self, now: Instant) -> usize {
        let now = self.nanos(now);
        let mut due = Vec::new();
        {
            let mut h = self.heap.lock();
            while let Some(Reverse(e)) = h.entries.peek() {
                if e.when > now {
                    break;
                }
                let Some(Reverse(e)) = h.entries.pop() else {
                    break;
                };
                due.push(e.waker);
            }
            let next = h.entries.peek().map_or(u64::MAX, |Reverse(e)| e.when);
            self.next.store(next, Ordering::SeqCst);
        }
        if due.len() > 1 {
            shuffle(&mut due, now, self.seed.load(Ordering::Relaxed));
        }
        for w in &due {
            w.fire();
        }
        if !due.is_empty() && crate::diag::trace::on() {
            let kind = crate::diag::trace::Kind::Timers;
            crate::diag::trace::record(kind, 0, due.len() as u64);
        }
        due.len()
    }

    /// Drops every pending timer (shutdown).
    pub(crate) fn clear(&self) {
        let entries = std::mem::take(&mut self.heap.lock().entries);
        self.next.store(u64::MAX, Ordering::SeqCst);
        drop(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::park;

    #[test]
    fn fires_in_deadline_order() {
        let t = Timers::new();
        let now = Instant::now();
        let a = TimerWaker::new(park::current());
        let b = TimerWaker::new(park::current());
        assert!(t.insert(now + Duration::from_millis(20), b.clone()));
        assert!(
            t.insert(now + Duration::from_millis(10), a.clone()),
            "earlier one re-arms"
        );
        assert!(!t.insert(
            now + Duration::from_millis(30),
            TimerWaker::new(park::current())
        ));
        assert_eq!(
            t.next_deadline().unwrap(),
            t.epoch + Duration::from_nanos(t.nanos(now + Duration::from_millis(10)))
        );
        assert_eq!(t.fire_due(now + Duration::from_millis(15)), 1);
        assert!(a.has_fired() && !b.has_fired());
        assert!(!t.is_due(now + Duration::from_millis(15)));
        assert_eq!(t.fire_due(now + Duration::from_millis(100)), 2);
        assert!(b.has_fired());
        assert!(!t.is_pending_relaxed());
    }
}
