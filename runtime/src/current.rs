//! The runtime's one thread-local: which worker (M, with its processor P) this OS thread is.
//!
//! Green threads migrate between worker threads while they are parked, so a thread-local
//! address computed before a switch may belong to another thread after it. LLVM is free to
//! cache a TLS address across a call it cannot see into (rust-lang/unsafe-code-guidelines
//! #602; generator-rs#79 crashed on Rust 1.90 exactly this way). So:
//!
//! * every read goes through [`worker`], which is `#[inline(never)]` and fenced, so the
//!   address is recomputed on each call on whatever thread is running now;
//! * no caller keeps the returned pointer across a park or a yield: it is re-read after
//!   every switch.
//!
//! The cell is `const`-initialised and holds a raw pointer without a destructor, so it is a
//! plain `#[thread_local]` static: reading it is async-signal-safe (the stack-overflow
//! handler does).

use std::cell::Cell;
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{compiler_fence, Ordering};

use crate::scheduler::worker::WorkerCtx;

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(ptr::null()) };
}

/// The worker context of the calling OS thread, or null on a non-worker thread.
///
/// The pointer is valid until the calling code next parks or yields; re-read it after.
#[inline(never)]
pub(crate) fn worker() -> *const WorkerCtx {
    compiler_fence(Ordering::SeqCst);
    let p = WORKER.with(Cell::get);
    compiler_fence(Ordering::SeqCst);
    black_box(p)
}

/// Installs (or with null, clears) the calling thread's worker context.
#[inline(never)]
pub(crate) fn set_worker(ctx: *const WorkerCtx) {
    compiler_fence(Ordering::SeqCst);
    WORKER.with(|c| c.set(ctx));
    compiler_fence(Ordering::SeqCst);
}
