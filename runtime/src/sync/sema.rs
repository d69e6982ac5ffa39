//! The parked-waiter semaphore every `goro::sync` lock is built on (Go's `runtime/sema.go`
//! plus `sync.Mutex`'s two modes).
//!
//! A `Sema` is a count of permits plus a FIFO queue of parked waiters. `acquire` takes a
//! permit or parks; `release` returns one and, if someone waits, wakes the oldest waiter:
//!
//! * **normal mode**: the woken waiter competes for the permit with newcomers (who may
//!   barge in — the permit is still warm in their cache); if it loses it queues again at
//!   the *head*. This keeps throughput under contention (no convoy of park/unpark per
//!   lock operation).
//! * **starvation mode**: a waiter that has waited longer than 1 ms (Go's threshold) is
//!   *handed* the permit directly by the releaser (`semrelease1(handoff=true)`), so no
//!   waiter is overtaken forever.
//!
//! # Invariants
//! 1. `state` packs the free permits (low half) and the number of announced waiters (high
//!    half) into one word, changed only by atomic read-modify-writes. Keeping both in one
//!    word is what makes the no-lost-wake-up argument a matter of RMW order on a single
//!    location, with no reliance on `SeqCst` across two locations.
//! 2. A party announces itself as a waiter only while holding `queue`'s lock, and in that
//!    critical section enqueues itself; a hand-off retires the announcement under the same
//!    lock. So while the lock is held, `waiters(state) == queue.len()`.
//! 3. No wake-up is lost: an acquirer's CAS either takes a free permit or, seeing none,
//!    announces it waits; a release is a `fetch_add` on the same word. In the RMW order of
//!    that word, either the release comes first (the CAS sees the permit) or the
//!    announcement does (the release sees a waiter, takes the lock — after the acquirer
//!    has enqueued — and hands the permit over).
//! 4. A permit handed over (starvation mode) is taken out of `state` by the releaser under
//!    the lock before the waiter is granted; a granted waiter owns it. A waiter woken in
//!    normal mode owns nothing; if it disappears (unwound) it passes the wake-up on.
//!
//! # Lock order
//! `queue` is a leaf lock. Waiters are unparked after it is released.
//!
//! The loom models at the bottom check invariant 3 and the hand-off.

use crate::park::WaitReason;
use std::collections::VecDeque;

use super::waiter::{Waiter, WaiterList, STARVATION};
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering};
// Diagnostics only (`holder`): not part of the modelled protocol, so never a loom type.
use crate::park::LockHolder;
use std::sync::atomic::AtomicU64;

#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(loom)]
use loom::sync::Arc;

/// The time starvation is measured in: the caller's runtime's (virtual inside a synctest
/// bubble, where starvation then never depends on how fast the machine runs).
fn clock() -> std::time::Instant {
    #[cfg(not(loom))]
    return crate::driver::now();
    #[cfg(loom)]
    std::time::Instant::now()
}

/// A counting semaphore of parked waiters with FIFO hand-off. See the module docs.
#[derive(Debug)]
pub(crate) struct Sema {
    /// Free permits in the low half, announced waiters in the high half (invariants 1–3).
    state: AtomicUsize,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// What a waiter is shown waiting for (`dump`): the primitive built on this.
    reason: WaitReason,
    /// Who holds the permit, for a one-permit sema that records it (`Mutex`): an address
    /// on the holder's stack (`waiter::stack_marker`), or 0 (free, or not recorded).
    /// Diagnostics only: a waiter copies it into its wait record for `dump`.
    holder: AtomicU64,
}

const WAITER_SHIFT: u32 = usize::BITS / 2;
const ONE_WAITER: usize = 1 << WAITER_SHIFT;
const PERMIT_MASK: usize = ONE_WAITER - 1;

/// The most permits a semaphore can hold (`u32::MAX` on 64-bit targets).
pub(crate) const MAX_PERMITS: usize = PERMIT_MASK;

fn permits(state: usize) -> usize {
    state & PERMIT_MASK
}

fn waiters(state: usize) -> usize {
    state >> WAITER_SHIFT
}

impl Sema {
    /// A semaphore holding `permits` permits.
    ///
    /// # Panics
    /// If `permits > MAX_PERMITS`.
    #[cfg(not(loom))]
    pub(crate) const fn new(permits: usize, reason: WaitReason) -> Sema {
        assert!(permits <= MAX_PERMITS, "semaphore permit count too large");
        Sema {
            state: AtomicUsize::new(permits),
            queue: Mutex::new(VecDeque::new()),
            reason,
            holder: AtomicU64::new(0),
        }
    }

    /// A semaphore holding `permits` permits.
    #[cfg(loom)]
    pub(crate) fn new(permits: usize, reason: WaitReason) -> Sema {
        Sema {
            state: AtomicUsize::new(permits),
            queue: Mutex::new(VecDeque::new()),
            reason,
            holder: AtomicU64::new(0),
        }
    }

    /// Who holds the permit (`set_holder`), read through the address a waiter recorded
    /// (`Waiter::object`) by a synctest bubble's step.
    ///
    /// # Safety
    /// `object` is the address of a `Sema` that a green thread parked in
    /// [`acquire`](Self::acquire) recorded, and that green thread cannot resume meanwhile
    /// (its borrow keeps the `Sema` alive).
    #[cfg(not(loom))]
    pub(crate) unsafe fn holder_at(object: usize) -> u64 {
        // SAFETY: forwarded from this function's contract.
        unsafe { &*(object as *const Sema) }
            .holder
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records who holds the (single) permit now: an address on its stack, or 0.
    #[inline]
    pub(crate) fn set_holder(&self, id: u64) {
        self.holder.store(id, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes a permit if one is free, without waiting.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Optimistic first attempt for the common uncontended mutex state (one permit, no
        // waiters): one CAS, no preceding load.
        if self
            .state
            .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        let mut s = self.state.load(Ordering::Relaxed);
        while permits(s) > 0 {
            match self
                .state
                .compare_exchange_weak(s, s - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes a permit, parking until one is handed over if none is free.
    #[inline]
    pub(crate) fn acquire(&self) {
        if !self.try_acquire() {
            self.acquire_slow();
        }
    }

    #[cold]
    fn acquire_slow(&self) {
        // A short spin first: a holder on another worker often releases within a few
        // hundred nanoseconds, far less than a park/unpark round trip.
        let backoff = crossbeam_utils::Backoff::new();
        while !backoff.is_completed() {
            if self.try_acquire() {
                return;
            }
            backoff.snooze();
        }
        let mut since = None;
        let mut front = false;
        loop {
            if self.acquire_locked(self.queue.lock(), &mut since, front) {
                return;
            }
            // Woken in normal mode: compete with newcomers for the permit.
            if self.try_acquire() {
                return;
            }
            front = true; // re-queue at the head: we were first (Go's `lifo`)
        }
    }

    /// Takes a permit or queues and parks. True when done (took one, or was handed one);
    /// false when woken to compete for it.
    fn acquire_locked(
        &self,
        mut queue: MutexGuard<'_, VecDeque<Arc<Waiter>>>,
        since: &mut Option<std::time::Instant>,
        front: bool,
    ) -> bool {
        // Invariant 3: one CAS either takes a free permit or, seeing none, announces us.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let (next, took) = if permits(s) > 0 {
                (s - 1, true)
            } else {
                (s + ONE_WAITER, false)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if took => return true,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        let holder = match self.holder.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            at => Some(LockHolder::Stack(at)),
        };
        let waiter = Waiter::new_held(self.reason, self, holder);
        let started = *since.get_or_insert_with(clock);
        if clock().saturating_duration_since(started) >= STARVATION {
            waiter.starving.store(true, Ordering::Relaxed);
        }
        if front {
            queue.push_front(waiter.clone());
        } else {
            queue.push_back(waiter.clone());
        }
        // Invariant 4: the permit is ours once granted.
        waiter.wait(queue, || self.withdraw(&waiter))
    }

    /// Undoes an acquire abandoned by an unwind: leave the queue, or return the permit we
    /// were handed.
    #[cold]
    fn withdraw(&self, waiter: &Arc<Waiter>) {
        let mut queue = self.queue.lock();
        if queue.remove_waiter(waiter) {
            self.state.fetch_sub(ONE_WAITER, Ordering::Relaxed); // invariant 2
        } else if waiter.is_granted() {
            drop(queue);
            self.release();
        } else {
            // Woken to compete but gone: pass the wake-up on, or the permit could sit
            // unused while others sleep.
            drop(queue);
            if self.waiting() > 0 && self.available() > 0 {
                self.hand_off();
            }
        }
    }

    /// Returns a permit, handing it to the oldest waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        let prev = self.state.fetch_add(1, Ordering::Release);
        debug_assert!(permits(prev) < MAX_PERMITS, "semaphore permit overflow");
        if waiters(prev) != 0 {
            self.hand_off();
        }
    }

    #[cold]
    fn hand_off(&self) {
        let mut queue = self.queue.lock();
        let Some(first) = queue.front() else {
            return;
        };
        if !first.starving.load(Ordering::Relaxed) {
            // Normal mode (Go's): wake the oldest waiter to compete for the permit, which
            // stays in the counter; a newcomer may take it first, and the waiter queues
            // again at the head. Throughput under contention, with starvation bounded.
            let waiter = queue.pop_front().expect("checked non-empty");
            self.state.fetch_sub(ONE_WAITER, Ordering::Relaxed); // invariant 2
            drop(queue);
            waiter.wake();
            return;
        }
        // Starvation mode: take a permit back out for the oldest waiter and retire its
        // announcement, in one CAS; if a newcomer took the permit first, its own release
        // will hand off instead.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if queue.is_empty() || permits(s) == 0 {
                return;
            }
            debug_assert_eq!(waiters(s), queue.len(), "invariant 2");
            match self.state.compare_exchange_weak(
                s,
                s - 1 - ONE_WAITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        let waiter = queue.pop_front().expect("checked non-empty");
        drop(queue);
        waiter.grant();
    }

    /// Free permits right now (racy: for diagnostics and tests).
    pub(crate) fn available(&self) -> usize {
        permits(self.state.load(Ordering::Relaxed))
    }

    /// Parties currently waiting (racy).
    pub(crate) fn waiting(&self) -> usize {
        waiters(self.state.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Two threads contend for one permit while each holds it in turn; the critical
    /// sections never overlap and nobody sleeps forever (loom reports a deadlock if a
    /// wake-up could be lost).
    #[test]
    fn loom_sema_mutual_exclusion_no_lost_wakeup() {
        mutual_exclusion(false);
    }

    /// The same with every waiter starving: the releaser hands the permit over.
    #[test]
    fn loom_sema_starvation_hand_off() {
        mutual_exclusion(true);
    }

    fn mutual_exclusion(starving: bool) {
        loom::model(move || {
            let sema = Arc::new(Sema::new(1, WaitReason::Sync));
            let inside = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (s, i) = (sema.clone(), inside.clone());
                    thread::spawn(move || {
                        s.acquire_locked_for_test(starving);
                        assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0);
                        i.fetch_sub(1, Ordering::SeqCst);
                        s.release();
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(sema.available(), 1);
            assert_eq!(sema.waiting(), 0);
        });
    }

    /// A release racing an acquirer that is about to park: the permit is either taken
    /// directly or handed over, never stranded in the counter with a sleeping waiter.
    #[test]
    fn loom_sema_release_races_park() {
        loom::model(|| {
            let sema = Arc::new(Sema::new(0, WaitReason::Sync));
            let s2 = sema.clone();
            let releaser = thread::spawn(move || s2.release());
            sema.acquire_locked_for_test(false);
            releaser.join().unwrap();
            assert_eq!(sema.available(), 0);
        });
    }

    impl Sema {
        /// `acquire` without the spin (loom cannot model `Backoff`'s yields usefully).
        /// `starving` starts the wait as if it had lasted past the threshold.
        fn acquire_locked_for_test(&self, starving: bool) {
            if self.try_acquire() {
                return;
            }
            let mut since = Some(if starving {
                std::time::Instant::now() - 2 * STARVATION
            } else {
                std::time::Instant::now() + std::time::Duration::from_secs(3600)
            });
            let mut front = false;
            while !self.acquire_locked(self.queue.lock(), &mut since, front) {
                if self.try_acquire() {
                    return;
                }
                front = true;
            }
        }
    }
}
