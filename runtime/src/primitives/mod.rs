//! Layer 1: the concurrency building blocks the runtime is made of, each importing nothing
//! of goro's above `lock` and `loom`. Each is a small protocol with its own invariants and
//! loom model, usable (and tested) without a scheduler:
//!
//! * `park_state` — the park word of a green thread or an OS thread: who wakes it, and the
//!   token that makes a wake-up before the park commit count (Go's `g.atomicstatus`
//!   transitions for parking);
//! * `thread_parker` — an OS thread's parker on that word (`std::thread::park`'s shape,
//!   with a timeout and an external-wake hook for the thread blocked in `epoll_wait`);
//! * `idle` — the counts of searching and sleeping workers and who to wake (Go's
//!   `nmspinning`/`npidle`, tokio's `idle.rs`);
//! * `poll_gate` — who may call `epoll_wait` now, and whether it must be woken.

pub(crate) mod idle;
pub(crate) mod park_state;
pub(crate) mod poll_gate;
pub(crate) mod thread_parker;

#[cfg(all(test, loom))]
mod park_loom_tests;
