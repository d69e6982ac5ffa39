//! `blocking(f)`: run code that blocks its OS thread (file I/O, DNS, a C library, a std
//! lock) without stalling the other green threads of the worker.
//!
//! Go does this by handing the worker's processor to another OS thread for the duration
//! of the system call (`entersyscall`/`handoffp`). goro does that too, but only for calls
//! it did not see coming: sysmon hands off the processor of a worker blocked inside a
//! green thread after about a millisecond (`scheduler/handoff.rs`). For calls the code
//! *marks* as blocking, this moves the *call* instead: `f` runs on a thread of a shared
//! pool while the green thread parks, and its worker keeps running other green threads at
//! once, with no detection delay. A blocked call costs one OS thread either way. The price
//! is that `f` must be `Send + 'static` (it leaves the green thread's stack).
//!
//! The two are two thread budgets: this pool's (`MAX_THREADS`, process-wide, idle threads
//! exit after `KEEP_ALIVE`) and each runtime's workers and spares (`Builder::max_threads`).
//!
//! # Pool
//! Threads are created on demand (none idle → a new one, up to [`MAX_THREADS`]; beyond
//! that jobs queue) and exit after [`KEEP_ALIVE`] without work. When no thread can be
//! created (`RLIMIT_NPROC`, the kernel's thread limit, no memory for a stack), the call
//! runs on the calling worker instead, with one warning per process: it stalls that
//! worker's other green threads for its duration, but it never waits for a thread that
//! will not come.
//!
//! # Invariants
//! 1. A job's result is written once, under `Done::result`'s lock, before its waiter is
//!    unparked; the waiter re-checks the slot after every wake-up.
//! 2. `idle` counts threads waiting on `cvar` for a job; when `idle == 0` a thread is
//!    spawned *before* the job is pushed, and a job whose thread could not be spawned is
//!    never pushed, so a queued job never waits for a thread that will not come (unless
//!    the pool is at `MAX_THREADS`, when busy threads take it next).
//!
//! # Lock order
//! `state` and each `Done::result` are leaves.

use crate::lock::Mutex;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};
use std::time::Duration;

use crate::park::{self, WaitReason};

/// Most pool threads alive at once.
pub(crate) const MAX_THREADS: usize = 512;
/// An idle pool thread exits after this long without work.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<State>,
    cvar: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        jobs: VecDeque::new(),
        idle: 0,
        threads: 0,
    }),
    cvar: Condvar::new(),
};

/// Blocking calls running or queued right now (diagnostics; deadlock detection counts
/// them as possible wakers).
static IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// Blocking calls running or queued right now.
pub(crate) fn in_progress() -> usize {
    IN_PROGRESS.load(Ordering::SeqCst)
}

/// Pool threads alive right now (deadlock detection counts them as goro's own).
pub(crate) fn pool_threads() -> usize {
    POOL.state.lock().threads
}

/// Runs `f`, which may block its OS thread, without blocking the calling green thread's
/// worker: `f` runs on goro's blocking pool while the green thread parks. On a plain OS
/// thread `f` simply runs inline. A panic in `f` resumes in the caller.
///
/// ```
/// goro_runtime::run(|| {
///     let text = goro_runtime::blocking(|| std::fs::read_to_string("Cargo.toml"));
///     assert!(text.unwrap().contains("[package]"));
/// });
/// ```
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if !park::in_green_thread() {
        return f();
    }
    let done = Arc::new(Done::<R> {
        result: Mutex::new(None),
        waiter: park::current(),
    });
    let job_done = done.clone();
    IN_PROGRESS.fetch_add(1, Ordering::SeqCst);
    let job: Job = Box::new(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        *job_done.result.lock() = Some(r); // invariant 1
        job_done.waiter.clone().unpark();
        // After the unpark: deadlock detection must never see neither this call nor the
        // green thread it readied.
        IN_PROGRESS.fetch_sub(1, Ordering::SeqCst);
    });
    if let Err((job, e)) = submit(job) {
        warn_no_thread(&e);
        job(); // on this worker: it stalls, but the call completes (never a hang)
    }
    loop {
        if let Some(r) = done.result.lock().take() {
            return r.unwrap_or_else(|p: Box<dyn Any + Send>| std::panic::resume_unwind(p));
        }
        park::park(WaitReason::Blocking, || {});
    }
}

struct Done<R> {
    result: Mutex<Option<std::thread::Result<R>>>,
    waiter: park::Unparker,
}

/// Queues `job` for the pool, starting a thread first if none is idle. If no thread can be
/// started, the job is handed back with the error (invariant 2: a queued job always has a
/// thread to run it).
fn submit(job: Job) -> Result<(), (Job, std::io::Error)> {
    let mut st = POOL.state.lock();
    if st.idle == 0 && st.threads < MAX_THREADS {
        st.threads += 1; // invariant 2
        drop(st);
        let spawned = std::thread::Builder::new()
            .name("goro-blocking".into())
            .spawn(pool_thread);
        st = POOL.state.lock();
        if let Err(e) = spawned {
            st.threads -= 1;
            return Err((job, e));
        }
    }
    st.jobs.push_back(job);
    let wake = st.idle > 0;
    drop(st);
    if wake {
        POOL.cvar.notify_one();
    }
    Ok(())
}

/// Says once per process that `blocking` runs calls inline because no thread can start.
fn warn_no_thread(e: &std::io::Error) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "goro: blocking(): cannot start a pool thread ({e}; the process is at RLIMIT_NPROC, \
             the kernel's thread limit or out of memory); running blocking calls on the calling \
             worker instead, which stalls its other green threads until each call returns"
        );
    }
}

fn pool_thread() {
    let mut st = POOL.state.lock();
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            job();
            st = POOL.state.lock();
            continue;
        }
        st.idle += 1;
        let (guard, timed_out) = crate::lock::wait_timeout(&POOL.cvar, st, KEEP_ALIVE);
        st = guard;
        st.idle -= 1;
        if timed_out && st.jobs.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}
