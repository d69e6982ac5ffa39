//! `lock_os_thread` / `unlock_os_thread` (Go's `runtime.LockOSThread`): pin a green thread
//! to the OS thread running it, for thread-bound C libraries and `thread_local!` state.
//!
//! While locked, the green thread always resumes on the same OS thread, and no other green
//! thread runs there: the worker gives its processor to another thread (`handoff.rs`'s
//! machinery) and from then on runs only the locked green thread, waiting for its wake-ups
//! in its own mailbox (`scheduler/worker.rs`, `run_locked`). Locks nest, as in Go: the
//! green thread is unlocked when every `lock_os_thread` has been matched. A locked green
//! thread that finishes releases its thread, which becomes a spare.

use crate::park;
use crate::scheduler::context;

/// Locks the calling green thread to its OS thread (Go's `runtime.LockOSThread`): until
/// the matching [`unlock_os_thread`], it runs only on this thread and no other green
/// thread runs here. Calls nest. On a plain OS thread, does nothing (it is its own thread).
///
/// ```
/// goro_runtime::run(|| {
///     goro_runtime::lock_os_thread();
///     let me = std::thread::current().id();
///     goro_runtime::sleep(std::time::Duration::from_millis(1)); // parks
///     assert_eq!(std::thread::current().id(), me);
///     goro_runtime::unlock_os_thread();
/// });
/// ```
pub fn lock_os_thread() {
    context::with_worker(|w| {
        if let Some(ctx) = w.filter(|ctx| !ctx.current_g().is_null()) {
            ctx.lock_g();
        }
    });
}

/// Undoes one [`lock_os_thread`]; after the last one, the green thread is scheduled
/// normally again (it may move to another thread at its next switch). Calling it without
/// a lock does nothing, as in Go.
pub fn unlock_os_thread() {
    let must_move = context::with_worker(|w| {
        w.filter(|ctx| !ctx.current_g().is_null())
            .is_some_and(|ctx| ctx.unlock_g())
    });
    if must_move {
        park::yield_green(); // rejoins a run queue, from this thread without a processor
    }
}
