//! The channel lock: a test-and-test-and-set spinlock with backoff (Go's runtime `mutex`
//! plays the same role). A futex mutex would block the *worker thread* on contention,
//! stalling every green thread queued on it; critical sections here are a few dozen
//! instructions and never park or unpark, so spinning (then yielding the OS thread) wins.
//!
//! It has no guard type on purpose: `select` locks several channels in address order and
//! unlocks them from the park's release step, after the green thread switched out.
//!
//! # Invariants
//! 1. `locked` is true exactly while one party holds the lock; it becomes true only by a
//!    successful `false → true` CAS with `Acquire`, and false only by the holder's `Release`
//!    store, so everything written under the lock is visible to the next holder.
//! 2. A holder never parks, never unparks and never locks a channel of lower address while
//!    holding it (hchan's and select's critical sections are a few loads and stores), so a
//!    spinner waits for a bounded stretch of instructions.
//! 3. The unlock may be the last touch of the channel's memory (select's release step):
//!    nothing reads the lock after its releasing store.
//!
//! # Lock order
//! Channel locks are taken in increasing address order when more than one is held
//! (`select`'s lockorder); a single channel operation holds one. No other lock is taken
//! while one is held.

#[cfg(loom)]
pub(crate) use model::RawLock;

#[cfg(not(loom))]
use crate::loom::{AtomicBool, Ordering};

#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct RawLock {
    locked: AtomicBool,
}

#[cfg(not(loom))]
impl RawLock {
    pub(crate) fn lock(&self) {
        // Acquire: pairs with the release in `unlock`.
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Releases the lock. The store is the last access to `self`: after it, another party
    /// may free the channel (see `select.rs`).
    pub(crate) fn unlock(&self) {
        // Release: publish the critical section.
        self.locked.store(false, Ordering::Release);
    }
}

/// Under loom the lock is a loom `Mutex` whose guard is kept inside the lock: a party that
/// cannot take it is blocked in the model instead of spinning, which keeps the explored
/// state space small enough for three-party models. The acquire/release edges are the
/// same as the spinlock's.
#[cfg(loom)]
mod model {
    use std::cell::UnsafeCell;

    #[derive(Debug, Default)]
    pub(crate) struct RawLock {
        mutex: loom::sync::Mutex<()>,
        guard: UnsafeCell<Option<loom::sync::MutexGuard<'static, ()>>>,
    }

    // `guard` is written only by the party holding `mutex` (after `lock`, before `unlock`),
    // so the mutex serialises every access to it; `Chan`'s own `Send`/`Sync` impls rest
    // on that, as they do on the spinlock.

    impl RawLock {
        pub(crate) fn lock(&self) {
            let g = self.mutex.lock().unwrap();
            // SAFETY: the guard borrows `self.mutex` and is dropped by `unlock`, which the
            // channel protocol calls before the lock (and the channel) can be freed.
            let g: loom::sync::MutexGuard<'static, ()> = unsafe { std::mem::transmute(g) };
            // SAFETY: we hold the mutex, so nobody else touches `guard`.
            unsafe { *self.guard.get() = Some(g) };
        }

        pub(crate) fn unlock(&self) {
            // SAFETY: called by the holder, so nobody else touches `guard`.
            let g = unsafe { (*self.guard.get()).take() };
            drop(g.expect("goro: unlock of a channel lock that is not held"));
        }
    }
}
