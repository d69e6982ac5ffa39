//! The std/loom switch (tokio's `crate::loom`).
//!
//! The modules whose interleavings are model-checked (`primitives::park_state`, `primitives::thread_parker`,
//! `sync::sema`, `sync::waiter`, `netpoll::readiness`, `primitives::poll_gate`, `join`) import their
//! atomics and locks from here; goro-chan has its own switch for the channel and select
//! models. Under `RUSTFLAGS="--cfg loom"` they become loom's instrumented types, so
//! `cargo test --lib loom_` explores every interleaving of those protocols. The rest of the
//! runtime (stack switching, worker threads) cannot run under loom and uses `std` and
//! `crate::lock` directly. The models themselves sit at the bottom of the file they check,
//! in a `#[cfg(all(test, loom))] mod loom_tests` (`primitives/park_loom_tests.rs` for the park state
//! machine, which spans two files).

#[cfg(not(loom))]
pub(crate) use crate::lock::{wait, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar, MutexGuard,
};

/// loom's mutex with `crate::lock::Mutex`'s poison-free `lock`.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `cv.wait(guard)`, ignoring poisoning.
#[cfg(loom)]
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// One step of a spin-wait for another party's imminent store. Under loom, a yield, so
/// the model lets that party run instead of exploring an endless spin.
#[inline]
pub fn spin() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
