//! The one poison-free lock (tokio's `loom/std/mutex.rs`): goro's internal locks and
//! condvar waits, which ignore poisoning.
//!
//! A std `Mutex` is poisoned when a thread panics while holding it. goro's internal critical
//! sections do not run user code that can panic while they hold a lock, so poisoning can
//! only come from a bug elsewhere or from a shutdown unwind passing through; either way the
//! data under the lock is still consistent, and propagating the poison would turn one
//! failure into a cascade of unrelated panics. So `lock` recovers the guard.
//!
//! goro-chan uses it through `__private`; model-checked modules take it through
//! `crate::loom`, which swaps in loom's lock under `--cfg loom`.

use std::sync::{Condvar, PoisonError};
use std::time::Duration;

/// A `std::sync::Mutex` whose `lock` ignores poisoning.
#[derive(Debug, Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of a [`Mutex`] (std's, so std's `Condvar` accepts it).
pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, blocking the OS thread (only ever briefly: these guard short sections).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, through a unique borrow (no locking).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `cv.wait(guard)`, ignoring poisoning.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// `cv.wait_timeout(guard, d)`, ignoring poisoning; true if the time ran out.
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    d: Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = cv
        .wait_timeout(guard, d)
        .unwrap_or_else(PoisonError::into_inner);
    (guard, result.timed_out())
}
