//! The runtime's one thread-local, and every way to read it: which worker (M, with its
//! processor P) this OS thread is, and from there the green thread it runs, its runtime
//! and its netpoller (tokio's `runtime/context.rs`).
//!
//! # Why reads are fenced and never cached
//! Green threads migrate between worker threads while they are parked, so a thread-local
//! address computed before a switch may belong to another thread after it. LLVM is free to
//! cache a TLS address across a call it cannot see into (rust-lang/unsafe-code-guidelines
//! #602; generator-rs#79 crashed on Rust 1.90 exactly this way). So every read goes through
//! [`worker_ptr`], which is `#[inline(never)]` and fenced: the address is recomputed on each
//! call, on whatever thread is running now.
//!
//! # The one safety argument
//! 1. The cell holds null, or the address of the [`WorkerCtx`] that lives on this worker
//!    thread's stack for as long as the thread runs its loop (`worker::spawn` sets it
//!    before the loop and clears it after).
//! 2. A `&WorkerCtx` is only handed out inside [`with_worker`], whose closure is generic
//!    over the lifetime: the reference cannot escape it. The closure must not park or
//!    yield (a switch may resume the caller on another worker, whose context this is not);
//!    everything that does runs outside the closure and reads the context again.
//!
//! Everything else in this file is built on those two points; no other module reads the
//! cell. The cell is `const`-initialised and holds a raw pointer without a destructor, so
//! reading it is async-signal-safe (the stack-overflow handler does, through
//! [`running_g`]).

use std::cell::Cell;
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::Arc;

use super::worker::WorkerCtx;
use super::Sched;
use crate::g::G;
use crate::netpoll::Poller;

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(ptr::null()) };
}

/// The worker context of the calling OS thread, or null on a non-worker thread.
#[inline(never)]
fn worker_ptr() -> *const WorkerCtx {
    compiler_fence(Ordering::SeqCst);
    let p = WORKER.with(Cell::get);
    compiler_fence(Ordering::SeqCst);
    black_box(p)
}

/// Installs (or with null, clears) the calling thread's worker context (point 1).
#[inline(never)]
pub(crate) fn set_worker(ctx: *const WorkerCtx) {
    compiler_fence(Ordering::SeqCst);
    WORKER.with(|c| c.set(ctx));
    compiler_fence(Ordering::SeqCst);
}

/// Calls `f` with the calling thread's worker context (`None` off the workers). `f` must
/// not park or yield (point 2).
#[inline]
pub(crate) fn with_worker<R>(f: impl for<'w> FnOnce(Option<&'w WorkerCtx>) -> R) -> R {
    let w = worker_ptr();
    // SAFETY: point 1: non-null means this thread's live worker context; point 2: the
    // reference lives only for `f`, which does not switch.
    f((!w.is_null()).then(|| unsafe { &*w }))
}

/// True on a worker thread of any runtime.
pub(crate) fn on_worker() -> bool {
    !worker_ptr().is_null()
}

/// The runtime of the calling worker thread, if any.
pub(crate) fn current_sched() -> Option<Arc<Sched>> {
    with_worker(|w| w.map(|w| w.sched.clone()))
}

/// True if the calling thread is one of `sched`'s workers.
pub(crate) fn is_worker_of(sched: &Sched) -> bool {
    with_worker(|w| w.is_some_and(|w| ptr::eq(&*w.sched, sched)))
}

/// The netpoller of the calling worker's runtime (`None` off the runtime).
pub(crate) fn current_poller() -> Option<Arc<Poller>> {
    with_worker(|w| w.map(|w| w.sched.poller.clone()))
}

/// The green thread running on the calling thread, if any. The pointer stays valid while
/// that green thread runs (its worker holds a reference); it is the caller itself.
pub(crate) fn running_g() -> Option<*const G> {
    with_worker(|w| w.map(WorkerCtx::current_g).filter(|g| !g.is_null()))
}
