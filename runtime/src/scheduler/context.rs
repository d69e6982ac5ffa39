//! The scheduler's view of the thread context (`g/context.rs`, the runtime's one
//! thread-local): which worker (M, with its processor P) this OS thread is, and from there
//! its runtime.
//!
//! # Safety argument
//! The context's `worker` pointer is written only by `worker::main`, as the address of the
//! `WorkerCtx` that owns the context and lives on that thread's stack while the context is
//! installed; this file is the only reader, and hands out a `&WorkerCtx` only for the
//! duration of a closure that must not park or yield (`g/context.rs`, points 1 and 2).

use std::ptr;
use std::sync::Arc;

use super::worker::WorkerCtx;
use super::Sched;
use crate::g::context;

/// Calls `f` with the calling thread's worker context (`None` off the workers). `f` must
/// not park or yield.
#[inline]
pub(crate) fn with_worker<R>(f: impl for<'w> FnOnce(Option<&'w WorkerCtx>) -> R) -> R {
    context::with(|c| {
        // SAFETY: the module's safety argument: a context's `worker` is its live
        // `WorkerCtx`, and the reference lives only for `f`.
        f(c.map(|c| unsafe { &*(c.worker() as *const WorkerCtx) }))
    })
}

/// The runtime of the calling worker thread, if any.
pub(crate) fn current_sched() -> Option<Arc<Sched>> {
    with_worker(|w| w.map(|w| w.sched.clone()))
}

/// True if the calling thread is one of `sched`'s workers.
pub(crate) fn is_worker_of(sched: &Sched) -> bool {
    with_worker(|w| w.is_some_and(|w| ptr::eq(&*w.sched, sched)))
}
