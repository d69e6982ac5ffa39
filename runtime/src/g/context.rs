//! The runtime's one thread-local (tokio's `runtime/context.rs`): what the calling OS
//! thread is doing for goro — the green thread it runs now, and, on a worker thread, that
//! worker's scheduler state and its runtime's drivers.
//!
//! It lives in the `g` layer because the lowest user needs it: [`running_g`] is how `park`
//! (and the stack-overflow handler, and `GRef::current`) find the caller's G. The layers
//! above keep their parts behind typed accessors of their own: `scheduler::context` reads
//! `worker` (a `WorkerCtx`), `driver` reads `driver` (a `Driver`); each of those pointers
//! is written and read by that one module, so its type is erased here and nothing below
//! the scheduler imports it.
//!
//! # Why reads are fenced and never cached
//! Green threads migrate between worker threads while they are parked, so a thread-local
//! address computed before a switch may belong to another thread after it. LLVM is free to
//! cache a TLS address across a call it cannot see into (rust-lang/unsafe-code-guidelines
//! #602; generator-rs#79 crashed on Rust 1.90 exactly this way). So every read goes through
//! [`context_ptr`], which is `#[inline(never)]` and fenced: the address is recomputed on
//! each call, on whatever thread is running now.
//!
//! # The one safety argument
//! 1. The cell holds null, or the address of a [`ThreadContext`] that lives on this
//!    worker thread's stack (inside its `WorkerCtx`) for as long as the thread runs its
//!    loop (`worker::main` sets it before the loop and clears it after).
//! 2. A `&ThreadContext` is only handed out inside [`with`], whose closure is generic over
//!    the lifetime: the reference cannot escape it. The closure must not park or yield (a
//!    switch may resume the caller on another worker, whose context this is not);
//!    everything that does runs outside the closure and reads the context again.
//!
//! The cell is `const`-initialised and holds a raw pointer without a destructor, so
//! reading it is async-signal-safe (the stack-overflow handler does, through
//! [`running_g`]).
//!
//! # The other thread-locals, and why they stay apart
//! * `park`'s `THREAD_PARKER` and its fallback: every OS thread that ever waits in goro
//!   has a parker, workers or not, and it needs a destructor (an `Arc`); under loom it
//!   must be loom's own thread-local.
//! * `park`'s `UNWINDING_RUNTIME`: set on whatever thread drops a runtime, not a worker.
//! * `runtime.rs`'s `UNWINDING_G` (which green thread a dropped runtime is unwinding, for
//!   the message if a destructor panics) and `stack.rs`'s segment bound for plain OS
//!   threads: both are about whatever thread runs them, and read only on cold paths.
//! * `local.rs`'s table for `goro::local!` on plain OS threads: the OS-thread half of that
//!   API, with a destructor.
//!
//! None of them is read on a scheduling path; merging them here would give every OS
//! thread a `ThreadContext` with a destructor and make this cell's reads unsafe in a
//! signal handler.

use std::cell::Cell;
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{compiler_fence, Ordering};

use super::G;

/// What a worker thread publishes about itself. Lives inside the worker's `WorkerCtx`.
#[derive(Debug)]
pub(crate) struct ThreadContext {
    /// The green thread this worker is resuming right now (null in its scheduler loop).
    pub(crate) running: Cell<*const G>,
    /// The scheduler's `WorkerCtx` (read only by `scheduler::context`).
    worker: Cell<*const ()>,
    /// The runtime's `Driver` (read only by `driver`).
    driver: *const (),
}

impl ThreadContext {
    /// A context for a worker of the runtime whose drivers are at `driver`, which must
    /// outlive the time this context is installed (point 1).
    pub(crate) fn new(driver: *const ()) -> ThreadContext {
        ThreadContext {
            running: Cell::new(ptr::null()),
            worker: Cell::new(ptr::null()),
            driver,
        }
    }

    /// Records the worker state that holds this context (before it is installed).
    pub(crate) fn bind_worker(&self, worker: *const ()) {
        self.worker.set(worker);
    }

    /// The worker state given to [`bind_worker`](Self::bind_worker).
    pub(crate) fn worker(&self) -> *const () {
        self.worker.get()
    }

    /// The drivers given to [`new`](Self::new).
    pub(crate) fn driver(&self) -> *const () {
        self.driver
    }
}

thread_local! {
    static CONTEXT: Cell<*const ThreadContext> = const { Cell::new(ptr::null()) };
}

/// The calling thread's context, or null on a thread that is not a worker.
#[inline(never)]
fn context_ptr() -> *const ThreadContext {
    compiler_fence(Ordering::SeqCst);
    let p = CONTEXT.with(Cell::get);
    compiler_fence(Ordering::SeqCst);
    black_box(p)
}

/// Installs (or with null, clears) the calling thread's context (point 1).
#[inline(never)]
pub(crate) fn set(ctx: *const ThreadContext) {
    compiler_fence(Ordering::SeqCst);
    CONTEXT.with(|c| c.set(ctx));
    compiler_fence(Ordering::SeqCst);
}

/// Calls `f` with the calling thread's context (`None` off the workers). `f` must not
/// park or yield (point 2).
#[inline]
pub(crate) fn with<R>(f: impl for<'c> FnOnce(Option<&'c ThreadContext>) -> R) -> R {
    let c = context_ptr();
    // SAFETY: point 1: non-null means this thread's live context; point 2: the reference
    // lives only for `f`, which does not switch.
    f((!c.is_null()).then(|| unsafe { &*c }))
}

/// The green thread running on the calling thread, if any. The pointer stays valid while
/// that green thread runs (its worker holds a reference); it is the caller itself.
pub(crate) fn running_g() -> Option<*const G> {
    with(|c| c.map(|c| c.running.get()).filter(|g| !g.is_null()))
}
