//! goro-runtime: Go's scheduler for Rust — green threads on small, growable, pooled
//! stacks, multiplexed M:N onto worker OS threads with work stealing.
//!
//! Most users reach this through the `goro` facade. This crate also exports the low-level
//! [`park`] API that `goro-chan` and `goro::sync` are built on.
//!
//! # Glossary
//! goro uses Go's words for the scheduler's three parts: a **green thread** is a G, a
//! **processor** is a P (what `Builder::workers` counts: Go's GOMAXPROCS), and a **worker
//! thread** is an M, the OS thread that runs a processor's green threads (there are more
//! worker threads than processors while some are blocked in calls: spares).
//!
//! | goro | Go | where |
//! |---|---|---|
//! | green thread | goroutine, `g` | `g/mod.rs` |
//! | worker thread | `m` (OS thread) | `scheduler/worker.rs` |
//! | processor | `p` | `scheduler/processor.rs` |
//! | scheduler state (`Sched`) | `sched` | `scheduler/mod.rs` |
//! | thread context | `getg().m` | `g/context.rs` |
//! | drivers (timers, netpoller) | `p.timers`, `netpoll` | `driver.rs`, `timer.rs`, `netpoll/` |
//! | `runnext` | `p.runnext` | `scheduler/runnext.rs` |
//! | global queue | `sched.runq` | `scheduler/mod.rs` |
//! | searching worker | spinning `m` | `primitives/idle.rs` |
//! | dead-G pool | `gFree` | `scheduler/gpool.rs` |
//! | spare worker thread | idle `m` (`sched.midle`) | `scheduler/spares.rs` |
//! | processor handoff | `retake`/`handoffp` | `scheduler/handoff.rs`, `sysmon.rs` |
//! | waiter cache | `sudogcache` | `g/waiter_cache.rs` |
//! | [`park::park`] / [`park::Unparker::unpark`] | `gopark` / `goready` | `park/` |
//! | release step | `unlockf` | `g/mod.rs` (`ReleaseStep`) |
//! | readiness word | `pollDesc.rg`/`wg` | `netpoll/readiness.rs` |
//! | timekeeper | the `m` blocked in `netpoll(delay)` | `scheduler/mod.rs` (`timer_inserted`), `scheduler/worker.rs` (`sleep_until_work`) |
//! | lock ranks | `lockrank.go` | `docs/12-lock-ranks.md` |
//!
//! "Park" means a green thread (or an OS thread inside a goro call) waiting to be woken; a
//! worker with nothing to run *sleeps*.
//!
//! # Layers
//! Bottom to top; each layer imports only the layers below it. Measured with an import
//! graph of `crate::`/`super::` paths in which an edge into a module also counts for each
//! ancestor module it passes through (and a child's `super::` edge to its parent counts):
//! the largest cycle is 2 modules (`builder`/`runtime`, `net::common`/`net::source`).
//! 1. **Leaves** — `primitives/` (the park word `park_state.rs`, the OS-thread parker
//!    `thread_parker.rs`, the idle-worker counts `idle.rs`, the poll gate `poll_gate.rs`),
//!    `stacks/` (the arena `region.rs`, the mapping fallback and its budget,
//!    `valgrind.rs`), `arena.rs` (the malloc arena), `lock.rs`, `loom.rs`.
//! 2. **The green thread** — `g/`: the G (`mod.rs`), `GRef` (`gref.rs`), its locals table
//!    (`locals.rs`), waiter cache (`waiter_cache.rs`), and the thread context
//!    (`context.rs`: the one thread-local, with the running G). It knows the scheduler
//!    only through `trait Schedule` (ready a G, arm a timer for a G).
//! 3. **Parking** — `park/` (`mod.rs`, `waiter_alloc.rs`, `waiting_on.rs`): park on the
//!    running G, wake through its `Schedule`.
//! 4. **Drivers** — `timer.rs` (the heap), `netpoll/` (`mod.rs`, `readiness.rs`), and
//!    `driver.rs`, which holds both for a runtime and finds the caller's own through the
//!    thread context.
//! 5. **The scheduler** — `scheduler/` (`mod.rs`: `Sched`, which holds the drivers;
//!    `worker.rs`, `processor.rs`, `context.rs`: its typed view of the thread context;
//!    beneath them the queues `runnext.rs`, `registry.rs`, `gpool.rs`, the handoff
//!    protocol `handoff.rs`, the spare threads `spares.rs`, `locked.rs` (the worker side of
//!    `lock_os_thread`) and `syscall.rs` (of `blocking`)), and `overflow.rs`, the SIGSEGV
//!    handler a worker installs.
//! 6. **Services** on the core — `sysmon.rs` (owns `Monitor`: coarse clock, network
//!    backstop, handoffs, deadlock verdicts), `diag/` (`dump.rs`, `metrics.rs`,
//!    `leakcheck.rs`), `blocking.rs` (`goro::blocking`), `join.rs` (`JoinHandle`).
//! 7. **Public API** — `runtime.rs` (`Runtime`, `run`), `builder.rs`, `spawn.rs` (`go`,
//!    `try_go`, `Spawn`, `sleep`, `yield_now`, `num_goroutines`, `catch_unwind`, and
//!    `spawn_on` beneath them), `local.rs` (`goro::local!`), `os_thread.rs`
//!    (`lock_os_thread`), `stack.rs` (`maybe_grow`, `remaining`).
//! 8. **Libraries** — `sync/` (`waiter.rs`: the parked-waiter kit; `sema.rs`: the
//!    semaphore under `Mutex`, `RwLock`, `Semaphore`; `WaitGroup`, `Once`, `Condvar`,
//!    `OnceLock`, `LazyLock`), `net/` (TCP, UDP and Unix sockets on the netpoller),
//!    `scope.rs`; then goro-chan, which reaches the plumbing it needs through
//!    [`__private`].
//!
//! A socket read that would block runs downward — `net` → `netpoll` (the poller the driver
//! found) → `park` — and its wake-up goes up once: the netpoller unparks the G, and the
//! G's `Schedule` queues it.

//! # Thread-locals in green threads
//! A green thread may resume on a different OS thread after any call that can block
//! (`join`, `sleep`, `yield_now`, channel and sync operations). Do not hold a
//! `thread_local!` reference, an `Rc`, or a `std::sync::MutexGuard` across such a call.

#![deny(unsafe_op_in_unsafe_fn)]
// Under loom only the model-checked modules matter; the rest (netpoller, sockets) is idle.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

// Leaves: import nothing above them.
mod arena;
mod lock;
mod loom;
mod primitives;
mod stacks;
// The green thread (G, GRef, its locals and waiter cache).
mod g;
// Parking, the drivers, the scheduler.
mod driver;
mod fd_table;
mod netpoll;
mod overflow;
pub mod park;
mod scheduler;
mod timer;
// Services on the core.
mod blocking;
mod diag;
pub mod future;
// Socket and sleep calls through libc park the green thread (opt-in: process-wide).
#[cfg(all(feature = "hook", not(loom)))]
mod hook;
mod join;
mod sysmon;
// Public API.
mod builder;
mod local;
mod os_thread;
mod runtime;
mod spawn;
pub mod stack;
// Libraries.
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))] // built on goro::sync, which is not compiled for loom models
mod scope;
pub mod sync;
pub mod synctest;

pub use blocking::blocking;
pub use builder::{
    Builder, DEFAULT_MAX_THREADS, DEFAULT_POSSIBLE_DEADLOCK_AFTER, MAX_STACK_SIZE, MAX_WORKERS,
};
pub use diag::dump::{dump, dump_to};
pub use diag::latency::{Bucket, LatencyHistogram};
pub use diag::leakcheck::LeakCheck;
pub use diag::metrics::{metrics, Metrics, ProcessorMetrics};
pub use diag::trace;
pub use driver::now;
pub use future::block_on;
pub use join::{JoinHandle, SHUTDOWN_PAYLOAD};
pub use local::LocalKey;
pub use os_thread::{lock_os_thread, unlock_os_thread};
pub use runtime::{run, Runtime};
#[cfg(not(loom))]
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use spawn::{catch_unwind, go, num_goroutines, sleep, try_go, yield_now, Spawn};
pub use stacks::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use sysmon::DEADLOCK_MESSAGE;

/// What goro-chan builds on and users do not call: boxed wait records recycled per green
/// thread, and timer callbacks (the building block of `goro::time`). Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::driver::{call_at, fire_due, on_runtime, Timer};

    /// The id of the synctest bubble the caller runs in, 0 outside any (goro-chan's
    /// channels record it to check they are used only inside their bubble).
    pub fn current_bubble() -> u64 {
        crate::driver::current_bubble()
    }

    /// The seed of the caller's synctest bubble, 0 outside any (goro-chan seeds
    /// `select!`'s random choice with it).
    pub fn bubble_seed() -> u64 {
        crate::scheduler::context::with_worker(|w| {
            w.and_then(|c| c.sched.bubble.get()).map_or(0, |b| b.seed)
        })
    }

    /// What a wait on a channel made outside the caller's bubble is: never durable.
    pub fn outside_bubble(on: WaitingOn, outside: bool) -> WaitingOn {
        on.outside_bubble(outside)
    }
    pub use crate::lock::{Mutex, MutexGuard};
    pub use crate::loom::spin;
    pub use crate::park::waiter_alloc::{alloc_waiter, free_waiter};
    pub use crate::sysmon::helpers;

    use crate::park::{WaitReason, WaitingOn};

    /// What a channel operation waits on, for `dump` (goro-chan's `hchan`): the channel's
    /// address and capacity.
    pub fn waiting_on_channel<T: ?Sized>(
        reason: WaitReason,
        channel: *const T,
        capacity: usize,
    ) -> WaitingOn {
        WaitingOn::channel(reason, channel, capacity)
    }

    /// What a select waits on, for `dump`: its number of cases.
    pub fn waiting_on_select(cases: usize) -> WaitingOn {
        WaitingOn::select(cases)
    }
}

/// A runtime invariant was broken: print and abort (Go's `throw`). Not for user errors.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    eprintln!("goro: fatal error: {msg}");
    std::process::abort()
}
