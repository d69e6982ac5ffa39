//! The parked-waiter semaphore every `goro::sync` type is built on (Go's `runtime/sema.go`).
//!
//! A `Sema` is a count of permits plus a FIFO queue of parked waiters. `acquire` takes a
//! permit or parks; `release` returns one, and when someone waits it hands the permit
//! straight to the oldest waiter instead of putting it back (Go's hand-off,
//! `semrelease1(handoff=true)`): the woken party does not race newcomers for it.
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
//! 4. A permit handed over is taken out of `state` by the releaser under the lock before
//!    the waiter is granted; a granted waiter owns it.
//!
//! # Lock order
//! `queue` is a leaf lock. Waiters are unparked after it is released.
//!
//! The loom models at the bottom check invariant 3 and the hand-off.

use std::collections::VecDeque;

use crate::loom::{AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};
use wake::Wake;

#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(loom)]
use loom::sync::Arc;

/// How a waiter is woken: the runtime's `Unparker` (a green thread or an OS thread); under
/// loom, a model thread's `ThreadParker`.
#[cfg(not(loom))]
mod wake {
    use crate::park::{Unparker, WaitReason};

    pub(crate) type Wake = Unparker;

    pub(crate) fn current() -> Wake {
        crate::park::current()
    }

    pub(crate) fn park(release: impl FnOnce()) {
        crate::park::park(WaitReason::Sync, release);
    }

    pub(crate) fn unpark(w: &Wake) {
        w.clone().unpark();
    }
}

#[cfg(loom)]
mod wake {
    use crate::park::thread::ThreadParker;
    use loom::sync::Arc;

    pub(crate) type Wake = Arc<ThreadParker>;

    loom::thread_local! {
        static PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
    }

    pub(crate) fn current() -> Wake {
        PARKER.with(Arc::clone)
    }

    pub(crate) fn park(release: impl FnOnce()) {
        release();
        PARKER.with(|p| p.park());
    }

    pub(crate) fn unpark(w: &Wake) {
        w.unpark();
    }
}

/// One parked party. Lives in an `Arc` shared by the waiter and the queue (never on the
/// waiter's stack: see "keep wait records off the stack" in `park`).
#[derive(Debug)]
pub(crate) struct Waiter {
    granted: AtomicBool,
    wake: Wake,
}

impl Waiter {
    /// A waiter for the calling green thread (or OS thread).
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            granted: AtomicBool::new(false),
            wake: wake::current(),
        })
    }

    /// Parks until [`grant`](Self::grant)ed. `guard` (the lock under which this waiter was
    /// enqueued) is released only once the caller is committed to parking.
    ///
    /// If the park unwinds instead (the runtime is dropped while we wait and unwinds its
    /// green threads), `on_unwind` runs: it must take this waiter out of its queue, or —
    /// if it was already granted — give back what was granted, so nothing stays owned by
    /// a green thread that no longer exists.
    pub(crate) fn wait<G, F: FnOnce()>(&self, guard: G, on_unwind: F) {
        let withdraw = OnUnwind(Some(on_unwind));
        let mut guard = Some(guard);
        while !self.granted.load(Ordering::Acquire) {
            wake::park(|| drop(guard.take()));
        }
        drop(guard);
        std::mem::forget(withdraw);
    }

    /// True if `self` and `other` are the same waiter.
    pub(crate) fn is(self: &Arc<Self>, other: &Arc<Waiter>) -> bool {
        Arc::ptr_eq(self, other)
    }

    /// Tells the waiter that what it waits for is now its own, and wakes it. Call after
    /// releasing the lock that guards the queue it was taken from.
    pub(crate) fn grant(&self) {
        self.granted.store(true, Ordering::Release);
        wake::unpark(&self.wake);
    }
}

/// Runs its closure when dropped — by an unwind out of [`Waiter::wait`] only (the normal
/// path forgets it).
struct OnUnwind<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The queues waiters sit in.
pub(crate) trait WaiterList {
    /// Removes `w`; true if it was queued.
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool;
}

impl WaiterList for VecDeque<Arc<Waiter>> {
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool {
        match self.iter().position(|x| x.is(w)) {
            Some(i) => self.remove(i).is_some(),
            None => false,
        }
    }
}

impl WaiterList for Vec<Arc<Waiter>> {
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool {
        match self.iter().position(|x| x.is(w)) {
            Some(i) => {
                self.remove(i);
                true
            }
            None => false,
        }
    }
}

/// Wakes every waiter in `list` (taken out from under a lock first).
pub(crate) fn grant_all(list: impl IntoIterator<Item = Arc<Waiter>>) {
    for w in list {
        w.grant();
    }
}

/// A counting semaphore of parked waiters with FIFO hand-off. See the module docs.
#[derive(Debug)]
pub(crate) struct Sema {
    /// Free permits in the low half, announced waiters in the high half (invariants 1–3).
    state: AtomicUsize,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
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
    pub(crate) const fn new(permits: usize) -> Sema {
        assert!(permits <= MAX_PERMITS, "semaphore permit count too large");
        Sema {
            state: AtomicUsize::new(permits),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// A semaphore holding `permits` permits.
    #[cfg(loom)]
    pub(crate) fn new(permits: usize) -> Sema {
        Sema {
            state: AtomicUsize::new(permits),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes a permit if one is free, without waiting.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
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
        self.acquire_locked(lock(&self.queue));
    }

    fn acquire_locked(&self, mut queue: MutexGuard<'_, VecDeque<Arc<Waiter>>>) {
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
                Ok(_) if took => return,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        let waiter = Waiter::new();
        queue.push_back(waiter.clone());
        // Invariant 4: the permit is ours once granted.
        waiter.wait(queue, || self.withdraw(&waiter));
    }

    /// Undoes an acquire abandoned by an unwind: leave the queue, or return the permit we
    /// were handed.
    #[cold]
    fn withdraw(&self, waiter: &Arc<Waiter>) {
        let mut queue = lock(&self.queue);
        if queue.remove_waiter(waiter) {
            self.state.fetch_sub(ONE_WAITER, Ordering::Relaxed); // invariant 2
        } else {
            drop(queue);
            self.release();
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

    /// Adds `n` permits, or returns false (adding none) if that would exceed
    /// [`MAX_PERMITS`].
    pub(crate) fn release_many(&self, n: usize) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if permits(s).checked_add(n).map_or(true, |p| p > MAX_PERMITS) {
            return false;
        }
        for _ in 0..n {
            self.release();
        }
        true
    }

    #[cold]
    fn hand_off(&self) {
        let mut queue = lock(&self.queue);
        // Take a permit back out for the oldest waiter and retire its announcement, in one
        // CAS; if a newcomer took the permit first, its own release will hand off instead.
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

/// Locks an internal leaf lock. Nothing panics while holding these, so poisoning cannot
/// happen; recover anyway rather than propagate.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        loom::model(|| {
            let sema = Arc::new(Sema::new(1));
            let inside = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (s, i) = (sema.clone(), inside.clone());
                    thread::spawn(move || {
                        s.acquire_locked_for_test();
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
            let sema = Arc::new(Sema::new(0));
            let s2 = sema.clone();
            let releaser = thread::spawn(move || s2.release());
            sema.acquire_locked_for_test();
            releaser.join().unwrap();
            assert_eq!(sema.available(), 0);
        });
    }

    impl Sema {
        /// `acquire` without the spin (loom cannot model `Backoff`'s yields usefully).
        fn acquire_locked_for_test(&self) {
            if !self.try_acquire() {
                self.acquire_locked(lock(&self.queue));
            }
        }
    }
}
