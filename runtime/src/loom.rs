//! The std/loom switch (tokio's `crate::loom`).
//!
//! The modules whose interleavings are model-checked (`park::state`, `park::thread`,
//! `sync::sema`, `netpoll::slot`, `netpoll::gate`) import their atomics and locks from
//! here; goro-chan has its own switch for the channel and select models. Under `RUSTFLAGS="--cfg loom"` they become loom's
//! instrumented types, so `cargo test --lib loom_` explores every interleaving of the park
//! protocol. The rest of the runtime (stack switching, worker threads) cannot run under loom
//! and keeps using `std` directly.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
