//! `Once`: Go's `sync.Once`: run a function exactly once; concurrent callers park until it
//! has finished.
//!
//! # Invariants
//! 1. `state` goes INCOMPLETE → RUNNING (one caller wins the CAS) → DONE, never back.
//! 2. The runner stores DONE *before* draining `waiters` under its lock; a caller checks
//!    DONE under that lock before enqueueing, so no caller parks after the drain.
//! 3. DONE is stored even if the function panics (a drop guard), matching Go.
//!
//! # Lock order
//! `waiters` is a leaf lock.

use crate::lock::Mutex;
use crate::park::WaitReason;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::waiter::{grant_all, Waiter, WaiterList};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// Runs a function exactly once (Go's `sync.Once`).
///
/// Callers that arrive while the function runs park until it returns. If the function
/// panics, the panic propagates to its caller and the `Once` still counts as done (Go's
/// rule; std's `Once` poisons instead).
///
/// ```
/// static INIT: goro_runtime::sync::Once = goro_runtime::sync::Once::new();
/// static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// goro_runtime::run(|| {
///     let hs: Vec<_> = (0..8).map(|_| goro_runtime::go(|| INIT.call_once(|| {
///         CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///     }))).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
/// });
/// assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
/// ```
pub struct Once {
    state: AtomicU8,
    waiters: Mutex<Vec<Arc<Waiter>>>,
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` if no call has run yet; otherwise waits for the first call to finish.
    pub fn call_once(&self, f: impl FnOnce()) {
        if self.state.load(Ordering::Acquire) == DONE {
            return;
        }
        if self
            .state
            .compare_exchange(INCOMPLETE, RUNNING, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            let _finish = Finish(self); // invariant 3
            f();
            return;
        }
        self.wait_done();
    }

    #[cold]
    fn wait_done(&self) {
        let mut waiters = self.waiters.lock();
        if self.state.load(Ordering::Acquire) == DONE {
            return; // invariant 2
        }
        let me = Waiter::new(WaitReason::OnceWait, self);
        waiters.push(me.clone());
        me.wait(waiters, || {
            self.waiters.lock().remove_waiter(&me);
        });
    }

    /// True once a call has finished.
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }
}

/// Marks the `Once` done and wakes the callers waiting for it, on return or unwind.
struct Finish<'a>(&'a Once);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.state.store(DONE, Ordering::Release);
        let waiters = std::mem::take(&mut *self.0.waiters.lock());
        grant_all(waiters);
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_counts_as_done() {
        let once = Once::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            once.call_once(|| panic!("boom"))
        }));
        assert!(r.is_err());
        assert!(once.is_completed());
        once.call_once(|| unreachable!());
    }
}
