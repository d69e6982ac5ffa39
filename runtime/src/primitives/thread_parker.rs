//! The OS-thread form of the parking protocol: a `ParkState` plus a mutex and condvar.
//!
//! Plain OS threads (a `main` outside the runtime, a thread calling `JoinHandle::join`,
//! and the runtime's own idle workers) block here. The state word decides who must
//! signal (see `primitives::park_state`); the mutex only closes the gap between "I am parked" and
//! "I am waiting on the condvar", so a `notify_one` can never fall into it.
//!
//! # Lock order
//! `mutex` is a leaf lock: nothing else is acquired while it is held.

use std::time::Instant;

use super::park_state::{Commit, Notify, ParkState};
use crate::loom::{AtomicBool, Condvar, Mutex, Ordering};

/// Blocks and wakes one OS thread. `Sync`: any thread may unpark it.
#[derive(Debug)]
pub(crate) struct ThreadParker {
    state: ParkState,
    /// Set while the owner is blocked in `park_external` (written only by the owner).
    external: AtomicBool,
    mutex: Mutex<()>,
    cvar: Condvar,
}

impl ThreadParker {
    pub(crate) fn new() -> ThreadParker {
        ThreadParker {
            state: ParkState::new(),
            external: AtomicBool::new(false),
            mutex: Mutex::new(()),
            cvar: Condvar::new(),
        }
    }

    /// Blocks until `unpark` (or returns at once if a token is pending). May return
    /// spuriously; callers loop on their own condition.
    ///
    /// Executed only by the thread that owns this parker.
    pub(crate) fn park(&self) {
        self.park_until(None);
    }

    /// Like [`park`](Self::park) but gives up at `deadline`.
    pub(crate) fn park_until(&self, deadline: Option<Instant>) {
        if self.state.try_consume() {
            return;
        }
        let mut guard = self.mutex.lock();
        if self.state.commit() == Commit::Notified {
            return;
        }
        while self.state.is_parked() {
            guard = match deadline {
                None => crate::loom::wait(&self.cvar, guard),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        // Withdraw; if a waker claimed us meanwhile, that is a wake-up too.
                        let _ = self.state.cancel();
                        return;
                    }
                    self.wait_timeout(guard, deadline - now)
                }
            };
        }
    }

    #[cfg(not(loom))]
    fn wait_timeout<'a>(
        &self,
        guard: std::sync::MutexGuard<'a, ()>,
        d: std::time::Duration,
    ) -> std::sync::MutexGuard<'a, ()> {
        crate::lock::wait_timeout(&self.cvar, guard, d).0
    }

    #[cfg(loom)]
    fn wait_timeout<'a>(
        &self,
        guard: loom::sync::MutexGuard<'a, ()>,
        _d: std::time::Duration,
    ) -> loom::sync::MutexGuard<'a, ()> {
        // loom has no time: a timed wait is an untimed one that may wake spuriously.
        crate::loom::wait(&self.cvar, guard)
    }

    /// Wakes the owner (or leaves a token). Callable from any thread.
    pub(crate) fn unpark(&self) {
        let _ = self.unpark_or_external();
    }

    /// Like [`unpark`](Self::unpark), but returns true when the owner is blocked in
    /// [`park_external`](Self::park_external): the caller must then break that block
    /// (the netpoller's eventfd), since the condvar is not being waited on.
    pub(crate) fn unpark_or_external(&self) -> bool {
        if self.state.notify() != Notify::MustWake {
            return false;
        }
        // `notify`'s acquire paired with `commit`'s release: we see the flag set before it.
        if self.external.load(Ordering::Relaxed) {
            return true;
        }
        // Taking the lock orders us after the owner's `is_parked` check or before its
        // wait; either way the notify cannot be lost.
        drop(self.mutex.lock());
        self.cvar.notify_one();
        false
    }

    /// Parks by running `block` (e.g. `epoll_wait`) instead of waiting on the condvar.
    /// `block` must return when the external wake-up that `unpark_or_external` asks for
    /// happens (or on its own timeout). Executed only by the owning thread.
    pub(crate) fn park_external(&self, block: impl FnOnce()) {
        if self.state.try_consume() {
            return;
        }
        self.external.store(true, Ordering::Relaxed);
        if self.state.commit() == Commit::Notified {
            self.external.store(false, Ordering::Relaxed);
            return;
        }
        block();
        // Withdraw; if a waker claimed us meanwhile, its wake-up is this return.
        let _ = self.state.cancel();
        self.external.store(false, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn unpark_before_park_returns_at_once() {
        let p = ThreadParker::new();
        p.unpark();
        p.park();
    }

    #[test]
    fn park_until_times_out() {
        let p = ThreadParker::new();
        let t = Instant::now();
        p.park_until(Some(t + Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(20));
        p.unpark();
        p.park(); // the token left after the timeout is consumed, no hang
    }

    #[test]
    fn cross_thread_wake() {
        let p = Arc::new(ThreadParker::new());
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p2, f2) = (p.clone(), flag.clone());
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            f2.store(true, std::sync::atomic::Ordering::Release);
            p2.unpark();
        });
        while !flag.load(std::sync::atomic::Ordering::Acquire) {
            p.park();
        }
        h.join().unwrap();
    }
}
