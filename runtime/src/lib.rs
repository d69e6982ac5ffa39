//! goro-runtime: Go's scheduler for Rust — green threads on small, growable, pooled
//! stacks, multiplexed M:N onto worker OS threads with work stealing.
//!
//! Most users reach this through the `goro` facade. This crate also exports the low-level
//! [`park`] API that `goro-chan` and `goro::sync` are built on.
//!
//! # Glossary
//! | goro | Go | where |
//! |---|---|---|
//! | green thread | goroutine, `g` | `coroutine.rs` |
//! | worker | `m` (OS thread) | `scheduler/worker.rs` |
//! | processor | `p` | `scheduler/processor.rs` |
//! | `runnext` | `p.runnext` | `scheduler/runnext.rs` |
//! | global queue | `sched.runq` | `scheduler/mod.rs` |
//! | searching worker | spinning `m` | `scheduler/idle.rs` |
//! | [`park::park`] / [`park::Unparker::unpark`] | `gopark` / `goready` | `park/` |
//! | timekeeper | the `m` blocked in `netpoll(delay)` | `timer.rs` |
//!
//! # Module map
//! * `stack.rs` — guarded `mmap` stacks, lazy commit, pooling, shrinking, the stack and
//!   address-space budgets; `arena.rs` — pre-growing each worker's malloc arena;
//!   `valgrind.rs` — the client requests that keep memcheck quiet about stack switches.
//! * `overflow.rs` — the SIGSEGV handler that names the green thread that overflowed.
//! * `coroutine.rs` — the G, and why moving it between threads is sound; `gref.rs` —
//!   `GRef`, the counted reference to a G.
//! * `current.rs` — the one thread-local, read fresh after every switch.
//! * `park/` — the park/unpark protocol (loom-checked state machine, OS-thread parker).
//! * `scheduler/` — G/M/P: queues, stealing, idle workers, the registry.
//! * `sync/` — `Mutex`, `RwLock`, `WaitGroup`, `Once`, `Semaphore` on one parked-waiter
//!   semaphore; `Condvar`, `OnceLock`, `LazyLock` in std's shapes.
//! * `netpoll/` — the epoll netpoller; `net/` — TCP, UDP and Unix sockets on it.
//! * `blocking.rs` — `blocking(f)`: blocking calls on a thread pool while the green thread parks.
//! * `scope.rs` — `scope(|s| s.go(..))`, green threads that borrow from the caller.
//! * `timer.rs`, `green.rs` (`go`, `sleep`, `yield_now`), `join.rs`, `runtime.rs`, `builder.rs`.
//! * `sysmon.rs` — the monitor thread: coarse clock, network backstop, stuck workers,
//!   deadlock detection; `dump.rs` — `dump()`; `metrics.rs` — `Metrics`; `local.rs` —
//!   `goro::local!`, green-thread-local storage; `leakcheck.rs` — `LeakCheck`.
//!
//! # Thread-locals in green threads
//! A green thread may resume on a different OS thread after any call that can block
//! (`join`, `sleep`, `yield_now`, channel and sync operations). Do not hold a
//! `thread_local!` reference, an `Rc`, or a `std::sync::MutexGuard` across such a call.

#![deny(unsafe_op_in_unsafe_fn)]
// Under loom only the model-checked modules matter; the rest (netpoller, sockets) is idle.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

// Leaves: import nothing above them.
mod arena;
mod overflow;
mod stack;
// The green thread (G, GRef, its locals and waiter cache).
mod g;
// The scheduler core: the knot a runtime needs.
mod netpoll;
pub mod park;
mod scheduler;
mod timer;
// Services on the core.
mod blocking;
mod diag;
mod join;
mod sysmon;
// Public API.
mod builder;
mod local;
mod runtime;
mod spawn;
// Libraries.
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))] // built on goro::sync, which is not compiled for loom models
mod scope;
pub mod sync;

mod lock;
mod loom;

pub use blocking::blocking;
pub use builder::{Builder, MAX_STACK_SIZE, MAX_WORKERS};
pub use diag::dump::dump;
pub use diag::leakcheck::LeakCheck;
pub use diag::metrics::{metrics, Metrics};
pub use join::{JoinHandle, SHUTDOWN_PAYLOAD};
pub use local::LocalKey;
pub use runtime::{run, Runtime};
#[cfg(not(loom))]
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use spawn::{catch_unwind, go, num_goroutines, sleep, try_go, yield_now};
pub use stack::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use sysmon::DEADLOCK_MESSAGE;

/// What goro-chan builds on and users do not call: boxed wait records recycled per green
/// thread, and timer callbacks (the building block of `goro::time`). Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::lock::{Mutex, MutexGuard};
    pub use crate::park::waiter_alloc::{alloc_waiter, free_waiter};
    pub use crate::timer::{call_at, fire_due, on_runtime, Timer};
}

/// A runtime invariant was broken: print and abort (Go's `throw`). Not for user errors.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    eprintln!("goro: fatal error: {msg}");
    std::process::abort()
}
