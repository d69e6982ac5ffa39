//! The std/loom switch (as in goro-runtime): the channel's lock, its lock-free hints, the
//! waiters' outcomes and the select claim take their atomics from here, so
//! `RUSTFLAGS="--cfg loom" cargo test -p goro-chan --lib loom_` model-checks hchan's
//! send/recv/close protocol and the select claim (see `loom_tests.rs`).
//!
//! The cells guarded by the channel lock stay `std::cell::UnsafeCell`: loom checks the lock
//! and the orderings around it, and every access to those cells happens inside it.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// One step of a spin-wait for another party's imminent store (a yield under loom): the
/// runtime's.
pub(crate) use goro_runtime::__private::spin;
