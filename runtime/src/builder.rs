//! `Builder`: how many processors, how big a stack reservation, how many worker threads.

use std::io;
use std::time::Duration;

use crate::runtime::Runtime;
use crate::stacks::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
use crate::sysmon::Monitor;

/// Largest stack reservation accepted (Go's limit on 64-bit).
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Largest number of workers accepted.
pub const MAX_WORKERS: usize = 4096;
/// Default [`Builder::possible_deadlock_after`].
pub const DEFAULT_POSSIBLE_DEADLOCK_AFTER: Duration = Duration::from_secs(10);
/// Default budget of worker threads, spares for processor handoff included (Go's
/// `debug.SetMaxThreads` default).
pub const DEFAULT_MAX_THREADS: usize = 10_000;

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = goro_runtime::Runtime::builder().workers(2).stack_size(128 * 1024).build()?;
/// assert_eq!(rt.block_on(|| 6 * 7), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    detect_deadlocks: bool,
    possible_deadlock_after: Duration,
    warn_long_running: Option<Duration>,
    compact_parked_stacks: Option<Duration>,
    dump_on_sigquit: bool,
    max_threads: usize,
    /// Descriptor-table slots to reserve at start; `None` is the default reservation.
    reserve_fds: Option<usize>,
    /// A synctest bubble's seed (`synctest.rs`).
    bubble: Option<u64>,
    #[cfg(all(feature = "tokio", not(loom)))]
    tokio_handle: Option<tokio::runtime::Handle>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Defaults: one worker per available CPU (or `GORO_MAXPROCS`), 256 KiB stacks.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            detect_deadlocks: false,
            possible_deadlock_after: DEFAULT_POSSIBLE_DEADLOCK_AFTER,
            warn_long_running: warn_from_env(),
            compact_parked_stacks: None,
            dump_on_sigquit: false,
            max_threads: DEFAULT_MAX_THREADS,
            reserve_fds: None,
            bubble: None,
            #[cfg(all(feature = "tokio", not(loom)))]
            tokio_handle: None,
        }
    }

    /// Number of processors — OS threads running green threads in parallel (Go's
    /// GOMAXPROCS). Overrides `GORO_MAXPROCS`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Virtual reservation per green thread's stack, in bytes (rounded up to pages).
    /// Physical pages are committed only when touched, so a large reservation costs
    /// address space, not memory. Default 256 KiB; at least 64 KiB (`MIN_STACK_SIZE`: a
    /// panic with `RUST_BACKTRACE=1` must fit), at most 1 GiB.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Makes [`Runtime::block_on`] panic with `fatal: all goroutines are asleep -
    /// deadlock!` and a dump when every green thread is parked and nothing can wake one
    /// (see [`crate::run`], where this is always on). Off by default for `block_on`,
    /// because a program embedding goro may have OS threads that will send later.
    pub fn detect_deadlocks(mut self, on: bool) -> Self {
        self.detect_deadlocks = on;
        self
    }

    /// With deadlock detection on: when every green thread has been parked this long
    /// (default 10 s) and nothing inside the runtime can wake one, but something outside
    /// it could — an OS thread goro does not know (the program's own, a library's pool),
    /// signals watched with `goro::signal::notify`, an OS thread parked in a goro call —
    /// print one "possible deadlock" report to stderr (the dump, and what could still wake
    /// a green thread, OS threads by name) and go on running. It is no verdict: the
    /// verdict is pronounced only when it is certain. `Duration::ZERO` turns it off.
    pub fn possible_deadlock_after(mut self, after: Duration) -> Self {
        self.possible_deadlock_after = after;
        self
    }

    /// Prints a warning naming any green thread that runs longer than `threshold` without
    /// parking or yielding (it holds its worker: other green threads queued there wait to
    /// be stolen). Off by default; `GORO_WARN_LONG_RUNNING_MS=N` turns it on for every
    /// runtime of the process.
    pub fn warn_long_running(mut self, threshold: Duration) -> Self {
        self.warn_long_running = Some(threshold);
        self
    }

    /// Compacts the stacks of green threads parked longer than `after`: sysmon copies the
    /// few hundred bytes a parked green thread uses out to the heap and gives its stack
    /// pages back to the kernel; the worker that resumes it copies them back first (Go
    /// shrinks parked goroutines' stacks at GC for the same reason). For servers with many
    /// idle connections or workers parked on channels: a parked green thread then costs
    /// well under a page. Only waits nothing writes into the parked frame qualify (sleep,
    /// join, channel send and receive, sockets, `goro::sync`; not `select!` or futures;
    /// ch.1 of the walkthrough lists them), and never a green thread inside a
    /// [`scope`](crate::scope). Off by default; `Duration::ZERO` turns it off. Needs the
    /// `stack-traces` feature (default) on x86_64; elsewhere it does nothing.
    ///
    /// # Safety
    /// While a green thread's stack is compacted, its pages read as zeros and writes to
    /// them are lost. goro itself never touches a parked frame, but a scope other than
    /// goro's lends one to other threads: the caller promises that no green thread of
    /// this runtime parks in goro (a channel, a lock, `sleep`, a socket) while other
    /// threads hold references into its stack — no `std::thread::scope`, `rayon::scope`
    /// or `crossbeam::scope` around a goro wait, and no stack buffer handed to code that
    /// writes into it later. goro cannot see those borrows (Rust has no stack maps).
    pub unsafe fn compact_parked_stacks(mut self, after: Duration) -> Self {
        self.compact_parked_stacks = Some(after).filter(|d| !d.is_zero());
        self
    }

    /// `SIGQUIT` (`kill -QUIT`, Ctrl-\\) prints [`dump`](crate::dump) — every green thread
    /// with its stack — to stderr, and the program goes on (Go prints the same and exits).
    /// Process-wide once set: it replaces `SIGQUIT`'s default action. Off by default.
    pub fn dump_on_sigquit(mut self, on: bool) -> Self {
        self.dump_on_sigquit = on;
        self
    }

    /// The tokio runtime whose context green threads run in (`tokio` feature), so
    /// tokio-based futures work in [`block_on`](crate::block_on). Without it: the handle
    /// current on the thread that calls `build` (a program under `#[tokio::main]`), or
    /// else a small runtime goro hosts on one thread of its own (`future/tokio.rs`).
    #[cfg(all(feature = "tokio", not(loom)))]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Self {
        self.tokio_handle = Some(handle);
        self
    }

    /// The most worker threads the runtime may have (default [`DEFAULT_MAX_THREADS`], as
    /// Go's `debug.SetMaxThreads`). Beyond the `workers` that own a processor, the runtime
    /// starts spare threads to take over the processor of a worker stuck for more than
    /// 10 ms inside one green thread (a blocking call, a long computation): that is what
    /// keeps other green threads running meanwhile. At the limit it starts no more and
    /// prints one warning; `max_threads(workers)` turns the handoff off. Spares idle for
    /// 10 s exit. The threads of [`blocking`](crate::blocking)'s pool are counted apart.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n;
        self
    }

    /// Grows the process's descriptor table to hold `n` descriptors when the runtime
    /// starts (default: the soft `RLIMIT_NOFILE`, at most 65 536; `0` leaves the table
    /// alone). Linux grows the table on demand, and while it does, every thread opening a
    /// descriptor sleeps uninterruptibly — for milliseconds in a multi-threaded process,
    /// long enough for sysmon to hand those workers' processors to spare threads. Grown
    /// up front, a server accepting thousands of connections never stalls on it. Costs 8
    /// bytes of kernel memory per slot (512 KiB at 65 536), once per process; the table
    /// never shrinks.
    pub fn reserve_fds(mut self, n: usize) -> Self {
        self.reserve_fds = Some(n);
        self
    }

    /// Makes the runtime a synctest bubble with this seed (`synctest.rs`): a virtual
    /// clock, seeded random choices, no processor retake.
    pub(crate) fn bubble(mut self, seed: u64) -> Self {
        self.bubble = Some(seed);
        self
    }

    /// Starts the worker threads.
    ///
    /// Errors: `InvalidInput` for a zero or excessive worker count, an out-of-range stack
    /// size or a malformed `GORO_MAXPROCS` or `GORO_MAX_STACKS`; the OS error if a thread
    /// cannot be started.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(n) => n,
            None => default_workers()?,
        };
        if workers == 0 || workers > MAX_WORKERS {
            return Err(invalid(format!(
                "goro: Builder::workers must be between 1 and {MAX_WORKERS}, got {workers}"
            )));
        }
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&self.stack_size) {
            return Err(invalid(format!(
                "goro: Builder::stack_size must be between {MIN_STACK_SIZE} and {MAX_STACK_SIZE} \
                 bytes, got {}",
                self.stack_size
            )));
        }
        crate::stacks::check_env()?;
        #[cfg(not(loom))]
        if self.dump_on_sigquit {
            crate::diag::sigquit::install()?;
        }
        let monitor = Monitor::new(
            self.detect_deadlocks,
            Some(self.possible_deadlock_after),
            self.warn_long_running,
        )
        .with_compaction(self.compact_parked_stacks);
        #[cfg(all(feature = "tokio", not(loom)))]
        let tokio = crate::future::tokio::choose(self.tokio_handle)?;
        let rt = Runtime::start(
            workers,
            self.stack_size,
            self.max_threads,
            monitor,
            self.bubble,
            self.reserve_fds
                .unwrap_or_else(crate::fd_table::default_reservation),
            |_sched| {
                #[cfg(all(feature = "tokio", not(loom)))]
                let _ = _sched.tokio.set(tokio);
            },
        )?;
        Ok(rt)
    }
}

fn warn_from_env() -> Option<Duration> {
    let ms = std::env::var("GORO_WARN_LONG_RUNNING_MS").ok()?;
    ms.trim().parse().ok().map(Duration::from_millis)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn default_workers() -> io::Result<usize> {
    match std::env::var("GORO_MAXPROCS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(invalid(format!(
                "goro: GORO_MAXPROCS must be a positive integer, got {v:?}"
            ))),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
