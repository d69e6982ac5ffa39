//! `Runtime`: owns the worker threads; `run` is the `func main()` of a goro program.
//!
//! # Shutdown (`Drop`), in order
//! 1. Set the shutdown flag and wake every worker. A worker finishes the green thread it is
//!    running (until it parks or yields — green threads are not preempted), then leaves its
//!    loop, drops its queued references and hands its cached stacks to the pool.
//! 2. Join every worker thread. No green thread runs after this point.
//! 3. Unwind every green thread still registered (parked, queued, or never started), on the
//!    dropping thread: corosensei resumes each suspended coroutine with a forced unwind, so
//!    destructors on its stack run, like a thread's at `pthread_exit` but with Rust drops.
//!    Each one's `JoinHandle` then reports `Err(SHUTDOWN_PAYLOAD)`. Destructors may unpark
//!    others or even register new green threads' wake-ups; the loop repeats until the
//!    registry is empty. A destructor that *blocks* is a bug: it gets a clear panic. A
//!    destructor that *panics* while its green thread is unwound aborts the process, as
//!    it would on any thread: Rust aborts when a panic escapes a destructor during
//!    unwinding ("panic in a destructor during cleanup"), and there is no frame left
//!    to catch it in; a panic hook installed at the first such unwinding names the green
//!    thread and its spawn site first. A panic that a destructor catches is harmless.
//! 4. Drop queued references, timers, epoll's references to deregistered sockets and
//!    pooled stacks (unmapping them). A green thread holds its runtime (`G::shared`), so
//!    whatever still held a green thread after step 3 would keep the runtime's epoll and
//!    eventfd open: every wait registers its wake-up with a guard that withdraws it when
//!    the wait is unwound (channel and poll-slot waiters), and step 4 drops the rest.

use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::sync::Arc;

use crate::builder::Builder;
use crate::g::GRef;
use crate::join::JoinHandle;
use crate::park;
use crate::scheduler::context;
use crate::scheduler::worker::{self, WorkerCtx};
use crate::scheduler::Sched;
use crate::spawn::spawn_on;
use crate::sysmon::Monitor;

/// A goro runtime: `workers` OS threads multiplexing green threads.
///
/// ```
/// let rt = goro_runtime::Runtime::new()?;
/// let h = rt.spawn(|| 1 + 1);           // from a plain thread
/// assert_eq!(h.join().unwrap(), 2);
/// assert_eq!(rt.block_on(|| goro_runtime::go(|| 3).join().unwrap()), 3);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Runtime {
    sched: Arc<Sched>,
    /// sysmon's configuration and the deadlock verdict; shared with the sysmon thread.
    monitor: Arc<Monitor>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with default settings (see [`Builder::new`]).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(
        workers: usize,
        stack_size: usize,
        max_threads: usize,
        monitor: Monitor,
        bubble: Option<u64>,
        reserve_fds: usize,
        configure: impl FnOnce(&Sched),
    ) -> io::Result<Runtime> {
        crate::spawn::name_panics();
        crate::overflow::install();
        let sched = Sched::new(workers, stack_size, max_threads)?;
        // Before the first worker starts (`fd_table.rs` says why).
        crate::fd_table::reserve(&*sched.driver.poller, reserve_fds);
        configure(&sched); // before any worker starts
        let mut rt = Runtime {
            sched: sched.clone(),
            monitor: Arc::new(monitor),
            threads: Vec::with_capacity(workers + 1),
        };
        if let Some(seed) = bubble {
            // Before any worker starts: the clock, the seed, where the verdict goes.
            let _ = sched
                .driver
                .virtual_clock
                .set(crate::driver::VirtualClock::new());
            sched.driver.timers.set_seed(seed);
            for p in sched.procs.iter() {
                p.seed_bubble(seed);
            }
            let b = crate::synctest::Bubble::new(seed);
            let _ = b.monitor.set(rt.monitor.clone());
            let _ = sched.bubble.set(b);
        }
        for i in 0..workers {
            // On failure `rt` drops, stopping the workers already started.
            let token = crate::scheduler::handoff::FIRST_TOKEN + i;
            rt.threads.push(worker::spawn(sched.clone(), i, token)?);
        }
        rt.threads
            .push(crate::sysmon::spawn(&sched, rt.monitor.clone())?);
        crate::diag::dump::register(&sched);
        Ok(rt)
    }

    /// Spawns a green thread from any thread, inside or outside this runtime.
    ///
    /// Panics with a message naming the limit (`vm.max_map_count`, `RLIMIT_AS`) if its stack
    /// cannot be mapped; use [`try_spawn`](Self::try_spawn) to handle that instead.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn(f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`spawn`](Self::spawn), but returns the error if the stack cannot be mapped.
    #[track_caller]
    pub fn try_spawn<F, T>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        context::with_worker(|w| {
            let own = w.filter(|ctx| Arc::ptr_eq(&ctx.sched, &self.sched));
            spawn_on(
                &self.sched,
                own.and_then(WorkerCtx::p_access),
                f,
                site,
                None,
            )
        })
    }

    /// Runs `f` as a green thread and blocks the calling thread until it returns. A panic
    /// in `f` resumes in the caller.
    ///
    /// With [`Builder::detect_deadlocks`] (always on under [`run`]), if every green thread
    /// ends up parked with nothing left that could wake one, this panics with
    /// `fatal: all goroutines are asleep - deadlock!` followed by [`dump`](crate::dump)'s
    /// report, instead of waiting forever.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.block_on_outcome(f) {
            Outcome::Value(v) => v,
            Outcome::Panicked(p) => resume_unwind(p),
            Outcome::Deadlock(report) => panic!("{report}"),
        }
    }

    /// [`block_on`](Self::block_on)'s three endings, without panicking: the caller panics
    /// in its own frame, so the deadlock panic's location is the user's call.
    #[track_caller]
    pub(crate) fn block_on_outcome<F, T>(&self, f: F) -> Outcome<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let h = self.spawn(f);
        let r = if self.monitor.detects_deadlocks() {
            match h.join_watching(&self.monitor) {
                Ok(r) => r,
                Err(report) => return Outcome::Deadlock(report),
            }
        } else {
            h.join()
        };
        match r {
            Ok(v) => Outcome::Value(v),
            Err(p) => Outcome::Panicked(p),
        }
    }

    /// Counters describing this runtime right now (see [`Metrics`](crate::Metrics)).
    pub fn metrics(&self) -> crate::Metrics {
        crate::diag::metrics::read(&self.sched)
    }

    pub(crate) fn sched(&self) -> &Arc<Sched> {
        &self.sched
    }

    /// Live green threads of this runtime.
    pub fn num_goroutines(&self) -> usize {
        self.sched.live()
    }

    /// Number of processors (worker threads).
    pub fn workers(&self) -> usize {
        self.sched.num_processors()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if context::is_worker_of(&self.sched) {
            panic!(
                "goro: a Runtime was dropped from inside one of its own green threads; \
                 it cannot wait for the worker running that green thread. Drop it from \
                 the thread that created it."
            );
        }
        // Step 1 and 2.
        self.begin_shutdown();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.sched.spares.join_all();
        // Step 3.
        park::set_unwinding_runtime(true);
        loop {
            let gs = self.sched.registry.drain();
            if gs.is_empty() {
                break;
            }
            for g in gs {
                // SAFETY: every worker has exited; nobody else runs these Gs.
                if unsafe { g.is_live() } {
                    unwind_one(&g);
                }
            }
        }
        park::set_unwinding_runtime(false);
        // Step 4.
        self.sched.drain_queues();
        self.sched.driver.timers.clear();
        self.sched.driver.poller.release_deregistered();
    }
}

thread_local! {
    /// The green thread this thread is unwinding at shutdown (id and spawn site), for
    /// [`report_destructor_panic`].
    static UNWINDING_G: std::cell::Cell<Option<(u64, Option<&'static Location<'static>>)>> =
        const { std::cell::Cell::new(None) };
}

/// Installs, once per process, a panic hook that names the green thread when a destructor
/// panics while shutdown unwinds it. Rust aborts the process right after such a panic
/// ("panic in a destructor during cleanup"): no frame is left to catch it in. This line
/// at least tells the user which green thread, and where it was spawned. It chains to the
/// hook that was installed before.
fn report_destructor_panic() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    // std refuses to change the hook from a panicking thread (a runtime dropped while a
    // panic unwinds past it): skip the report then rather than panic in a destructor.
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some((id, site)) = UNWINDING_G.with(std::cell::Cell::get) {
                let site = site.map_or_else(|| "an unknown place".to_string(), |l| l.to_string());
                eprintln!(
                    "goro: green thread {id} (spawned at {site}) panicked while being unwound \
                     at shutdown, in a destructor; if the panic escapes that destructor, Rust \
                     aborts the process (catch it inside the destructor)"
                );
            }
            previous(info);
        }));
    });
}

/// Unwinds one green thread on the dropping thread (shutdown step 3; also `scope.rs`).
pub(crate) fn unwind_one(g: &GRef) {
    report_destructor_panic();
    // Nested when a scope's owner unwinds its green threads first (`scope.rs`).
    let outer = UNWINDING_G.with(|c| c.replace(Some((g.id(), g.spawn_site()))));
    // SAFETY: every worker has exited (step 2), so nobody else runs this G.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { g.unwind() }));
    UNWINDING_G.with(|c| c.set(outer));
    // SAFETY: as above.
    if let Some(c) = unsafe { g.take_completion() } {
        c.cancel();
    }
    if let Err(p) = r {
        // A destructor panicked while being unwound: report it, keep shutting down.
        let msg = p
            .downcast_ref::<&str>()
            .copied()
            .or(p.downcast_ref::<String>().map(String::as_str));
        eprintln!(
            "goro: green thread {} panicked while being unwound at shutdown: {}",
            g.id(),
            msg.unwrap_or("(non-string payload)")
        );
    }
}

/// Runs `f` as the main green thread of a new default runtime and returns its value
/// (Go's `func main()`). A panic in `f` resumes in the caller. When `f` returns, the
/// runtime is dropped: green threads still running or parked are unwound (their
/// destructors run) before `run` returns.
///
/// Deadlock detection is on (Go's `checkdead`): when every green thread is parked and no
/// timer, socket, `blocking` call or OS thread blocked in a goro call can wake one, `run`
/// panics with `fatal: all goroutines are asleep - deadlock!` and a [`dump`](crate::dump)
/// of the green threads. Green threads that wait for an OS thread *outside* any goro call
/// belong under [`Runtime::block_on`], where detection is opt-in.
///
/// ```
/// let v = goro_runtime::run(|| {
///     let h = goro_runtime::go(|| 20);
///     h.join().unwrap() + 22
/// });
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().run(f)
}

impl Builder {
    /// [`run`] with this builder's options: `f` is the main green thread of a new runtime,
    /// deadlock detection is on (whatever [`detect_deadlocks`](Builder::detect_deadlocks)
    /// said), and the call returns when `f` returns, as `run` does.
    ///
    /// # Panics
    /// If the runtime cannot be built (see [`build`](Builder::build)), and with `f`'s
    /// panic or a deadlock report, as `run`.
    ///
    /// ```
    /// let v = goro_runtime::Runtime::builder().workers(1).stack_size(1 << 20).run(|| 42);
    /// assert_eq!(v, 42);
    /// ```
    #[track_caller]
    pub fn run<F, T>(self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let rt = self
            .detect_deadlocks(true)
            .build()
            .unwrap_or_else(|e| panic!("goro::run: cannot start the runtime: {e}"));
        let outcome = catch_unwind(AssertUnwindSafe(|| rt.block_on_outcome(f)));
        rt.close_or_abandon(EXIT_GRACE);
        // Panicked here, not inside the closure: a deadlock's location is the caller's.
        match outcome {
            Ok(Outcome::Value(v)) => v,
            Ok(Outcome::Deadlock(report)) => panic!("{report}"),
            Ok(Outcome::Panicked(p)) | Err(p) => resume_unwind(p),
        }
    }
}

/// How a `block_on` ended.
pub(crate) enum Outcome<T> {
    Value(T),
    Panicked(Box<dyn std::any::Any + Send>),
    Deadlock(Arc<str>),
}

/// How long `run` waits, after its closure returned, for the workers to leave the green
/// threads they are running before it abandons them.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

impl Runtime {
    /// `run`'s exit (Go: returning from `main` ends the program, whatever goroutines are
    /// still running): shut down as `Drop` does, unless a worker is still inside a green
    /// thread after `grace` — one that never parks or yields. Then the runtime is
    /// abandoned as it is: that worker cannot be stopped, and its green thread's stack
    /// cannot be unwound while it runs. One line on stderr names each such green thread;
    /// the runtime's memory and threads stay until the process exits.
    fn close_or_abandon(self, grace: std::time::Duration) {
        self.begin_shutdown();
        let deadline = std::time::Instant::now() + grace;
        while self.threads.iter().any(|t| !t.is_finished()) || !self.sched.spares.all_finished() {
            if std::time::Instant::now() >= deadline {
                self.abandon();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(self); // every worker has left: the ordinary shutdown
    }

    /// Shutdown step 1, for the workers and for sysmon.
    fn begin_shutdown(&self) {
        self.sched.begin_shutdown();
        self.monitor.stop();
    }

    #[cold]
    fn abandon(self) {
        for g in self.sched.registry.snapshot() {
            let doing = match g.diag.status() {
                crate::g::Status::Running => "running without ever parking or yielding",
                crate::g::Status::Syscall => "inside a goro::blocking call",
                _ => continue,
            };
            let site = g
                .spawn_site()
                .map_or_else(|| "?".to_string(), |l| l.to_string());
            eprintln!(
                "goro: run returned while green thread {} (spawned at {site}) was still \
                 {doing}; its worker is abandoned, as the process is exiting",
                g.id()
            );
        }
        std::mem::forget(self);
    }
}
