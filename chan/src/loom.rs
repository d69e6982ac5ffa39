//! The std/loom switch (as in goro-runtime): the select claim's atomics come from here, so
//! `RUSTFLAGS="--cfg loom" cargo test -p goro-chan --lib loom_` model-checks it.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
