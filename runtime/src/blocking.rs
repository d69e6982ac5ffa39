//! `blocking(f)`: run code that blocks its OS thread (file I/O, DNS, a C library, a std
//! lock) without stalling the other green threads of the worker.
//!
//! Go does this with `entersyscallblock`: before a call known to block, the M hands its P
//! to another M, makes the call, and on return finds the P gone and queues the goroutine.
//! goro does the same (`scheduler/syscall.rs`): the worker gives its processor — local
//! queue, `runnext`, its share of the timer and network duties — to a spare worker thread
//! at once, runs `f` on its own thread and its green thread's stack, then switches out;
//! the green thread continues on whichever worker picks it up from the global queue, and
//! this thread becomes a spare. sysmon does the same for calls nobody marked, after it
//! notices them (~1 ms blocked in the kernel, 10 ms computing; `scheduler/handoff.rs`).
//!
//! Because `f` runs where it was called, it needs neither `Send` nor `'static`: it may
//! borrow the caller's locals, and its thread-locals are the calling thread's (a spare
//! pool thread with a `Send + 'static` job, this module's previous design, offered
//! neither).
//!
//! # One thread budget
//! The threads that run blocking calls are the runtime's spare workers: one budget,
//! `Builder::max_threads` (Go's `debug.SetMaxThreads`, 10 000 by default), counts every
//! worker thread — those with a processor, the spares, and those inside a blocking call.
//! Spares idle for 10 s exit. At the budget, or when no thread can be started at all
//! (`RLIMIT_NPROC`, the kernel's thread limit, no memory for a stack), the call runs on
//! the worker with its processor, with one warning per process: it stalls that worker's
//! queue for its duration, but it never waits for a thread that will not come.
//!
//! # Shutdown
//! A call runs on its green thread's stack, so that green thread cannot be unwound while
//! the call is in progress: dropping a `Runtime` waits for running blocking calls to
//! return, as it waits for any running green thread (the pool of the earlier design let
//! the runtime go and finished the call alone). `goro::run` waits 200 ms, then abandons
//! the thread with a line naming the green thread, as for one that never parks. `dump`
//! shows such a green thread as `[syscall (goro::blocking)]`.
//!
//! # Invariants
//! 1. `IN_PROGRESS` counts a call from before its processor is handed off until after it
//!    returned or unwound (a guard): deadlock detection never sees a runtime without
//!    the call and without the green thread that made it running.
//! 2. A green thread switches out right after a call for which its worker gave the
//!    processor away, so the rest of its code runs on a worker with a processor again.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::scheduler::context;
use crate::scheduler::syscall::HandOff;
use crate::scheduler::worker::WorkerCtx;

/// Blocking calls running right now on a worker thread (diagnostics; deadlock detection
/// counts them as possible wakers).
static IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// Blocking calls running right now.
pub(crate) fn in_progress() -> usize {
    IN_PROGRESS.load(Ordering::SeqCst)
}

/// Runs `f`, which may block its OS thread, without blocking the other green threads of
/// the calling green thread's worker: the worker hands its processor to a spare thread
/// first (Go's `entersyscallblock`), runs `f` itself, and the green thread resumes on a
/// worker afterwards. On a plain OS thread `f` simply runs. A panic in `f` unwinds into
/// the caller as usual.
///
/// `f` runs on the calling thread and stack, so it may borrow:
///
/// ```
/// goro_runtime::run(|| {
///     let path = String::from("Cargo.toml");
///     let text = goro_runtime::blocking(|| std::fs::read_to_string(&path));
///     assert!(text.unwrap().contains("[package]"));
/// });
/// ```
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    let handed = context::with_worker(|w| {
        let ctx = w.filter(|ctx| !ctx.current_g().is_null())?;
        IN_PROGRESS.fetch_add(1, Ordering::SeqCst); // invariant 1
        Some(ctx.enter_syscall())
    });
    let Some(handed) = handed else {
        return f(); // a plain thread (or a worker's own code): nobody else to stall
    };
    let _count = InProgress;
    if let HandOff::Kept(e) = &handed {
        warn_no_thread(e);
    }
    let value = f();
    if matches!(handed, HandOff::Given) && !is_locked() {
        crate::park::yield_green(); // invariant 2
    }
    value
}

/// Counts a call out of `IN_PROGRESS` when it returns or unwinds.
struct InProgress;

impl Drop for InProgress {
    fn drop(&mut self) {
        crate::scheduler::syscall::exit_syscall();
        IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// True if the calling green thread is locked to its OS thread (`lock_os_thread`): it
/// stays here after the call, without a processor, as it was before.
fn is_locked() -> bool {
    context::with_worker(|w| w.is_some_and(WorkerCtx::runs_locked_g))
}

/// Says once per process that blocking calls run with the worker's processor, because no
/// thread can take it over.
fn warn_no_thread(e: &std::io::Error) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "goro: blocking(): cannot start a thread to take over the worker's processor \
             ({e}); running blocking calls on the calling worker instead, which stalls its \
             other green threads until each call returns"
        );
    }
}
