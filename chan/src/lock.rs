//! The channel lock: a test-and-test-and-set spinlock with backoff (Go's runtime `mutex`
//! plays the same role). A futex mutex would block the *worker thread* on contention,
//! stalling every green thread queued on it; critical sections here are a few dozen
//! instructions and never park or unpark, so spinning (then yielding the OS thread) wins.
//!
//! It has no guard type on purpose: `select` locks several channels in address order and
//! unlocks them from the park's release step, after the green thread switched out.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::Backoff;

#[derive(Debug, Default)]
pub(crate) struct RawLock {
    locked: AtomicBool,
}

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
        let backoff = Backoff::new();
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
