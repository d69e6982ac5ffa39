//! # goro: Go's concurrency model for Rust
//!
//! Green threads (`go`) on an M:N work-stealing scheduler with small, growable, pooled
//! stacks. This crate is the facade: everything is re-exported from the workspace crates.
//!
//! ```
//! let answer = goro::run(|| {
//!     let handles: Vec<_> = (1..=3).map(|i| goro::go(move || i * 7)).collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! | Go | goro |
//! |---|---|
//! | `go f()` | `goro::go(move \|\| f())` → [`JoinHandle<T>`] |
//! | `func main()` + runtime | [`goro::run(\|\| ...)`](run) or [`Runtime::builder()`](Runtime::builder)`...build()?.block_on(...)` |
//! | `runtime.Gosched()` | [`goro::yield_now()`](yield_now) |
//! | `time.Sleep(d)` | [`goro::sleep(d)`](sleep) |
//! | `testing/synctest` (`Test`, `Wait`, `time.Now` in a bubble) | [`goro::synctest::test`](synctest::test), [`wait`](synctest::wait), [`goro::time::now`](time::now); [`explore`](synctest::explore) and `GORO_SEED` for seeded schedules |
//! | `runtime.NumGoroutine()` | [`goro::num_goroutines()`](num_goroutines) |
//! | `GOMAXPROCS` | [`Builder::workers`] or the `GORO_MAXPROCS` environment variable |
//! | `make(chan T, n)` | [`goro::chan::bounded::<T>(n)`](chan::bounded) (n = 0: unbuffered) |
//! | `ch <- v` / `v, ok := <-ch` | `tx.send(v)` / `rx.recv()` (`Err` once closed and drained) |
//! | `close(ch)` | `tx.close()` (also: the last `Sender` dropped) |
//! | `for v := range ch` | `for v in &rx` |
//! | `select { ... default: }` | [`goro::select!`](select) `{ recv(rx) -> r => .., send(tx, v) -> r => .., default => .. }` |
//! | `sync.WaitGroup`, `sync.Mutex`, `sync.RWMutex`, `sync.Once` | [`goro::sync::{WaitGroup, Mutex, RwLock, Once}`](sync) |
//! | `context.WithCancel/WithTimeout` | [`goro::context::Context`](context::Context) |
//! | `errgroup.Group` + `SetLimit` | [`goro::errgroup::Group`](errgroup::Group) |
//! | `net.Listen("tcp", ..)`, `net.Dial` | [`goro::net::{TcpListener, TcpStream, UdpSocket}`](net) (backlog `net.core.somaxconn`, as Go's) |
//! | `net.ListenConfig`, `DialTimeout`, `DialContext` | [`goro::net::ListenConfig`](net::ListenConfig), [`TcpStream::connect_timeout_to`](net::TcpStream::connect_timeout_to), [`Context::dial`](context::Context::dial) |
//! | `sem.Acquire(ctx, n)` | [`Context::acquire`](context::Context::acquire) |
//! | `time.After(d)` / `time.Tick(d)` | [`goro::time::after(d)`](time::after) / [`goro::time::tick(d)`](time::tick) |
//! | `time.NewTimer` / `NewTicker` / `AfterFunc` (Go 1.23 semantics) | [`goro::time::Timer`](time::Timer) / [`Ticker`](time::Ticker) / [`after_func`](time::after_func) |
//! | `sync.Cond` | [`goro::sync::Condvar`](sync::Condvar) |
//! | `sync.OnceValue` | [`goro::sync::OnceLock`](sync::OnceLock), [`goro::sync::LazyLock`](sync::LazyLock) |
//! | `go` + `WaitGroup` over borrowed data | [`goro::scope`](scope) |
//! | `signal.Notify` / `signal.NotifyContext` | [`goro::signal::notify`](signal::notify) / [`goro::signal::notify_context`](signal::notify_context) (caught until its handle's `cancel`, Go's `stop`) |
//! | `signal.Reset` / `Ignore` / `Ignored` | [`goro::signal::reset`](signal::reset) / [`ignore`](signal::ignore) / [`ignored`](signal::ignored) |
//! | (Rust) an `async` crate from blocking code: `futures::executor::block_on`, `Runtime::block_on` | [`goro::block_on(fut)`](block_on): parks only the green thread; tokio's crates work with the `tokio` feature |
//! | (Rust) await a thread, `async_channel`/`flume` async ends | `handle.await` ([`JoinHandle`] is a `Future`); [`rx.recv_async()`](chan::Receiver::recv_async) / [`tx.send_async(v)`](chan::Sender::send_async); [`ctx.cancelled()`](context::Context::cancelled) |
//! | (Rust) `std::net`, `std::thread::sleep` and sync crates (ureq, redis) in green threads | with the `hook` feature they park only the green thread (docs ch.14); without it, processor handoff keeps the runtime live at an OS thread per blocked call |
//! | (Rust) `tracing` spans in goroutine-per-request code (tokio's `Instrument`) | with the `tracing` feature a span entered in a green thread stays its own across parks and migrations, and every line carries `g{id=N}` (docs ch.8) |
//! | `runtime/metrics` (`/sched/latencies:seconds`) | [`goro::metrics()`](metrics) / [`Runtime::metrics`]: totals, [`per_processor`](Metrics::per_processor) ([`ProcessorMetrics`]), scheduling-delay and run-time [`LatencyHistogram`]s |
//! | `runtime/trace`: `trace.Start(f)` / `trace.Stop()`; `trace.FlightRecorder` | [`goro::trace::start(path)`](trace::start) / [`stop()`](trace::stop); [`start_flight_recorder()`](trace::start_flight_recorder) + [`snapshot(w)`](trace::snapshot); Chrome trace-event JSON for Perfetto |
//! | `SIGQUIT` goroutine dump / `runtime.Stack(buf, true)` | [`goro::dump()`](dump) / [`goro::dump_to(w)`](dump_to): every green thread, its state, what it waits on, its stack (taken without stopping it), where it was spawned; [`Builder::dump_on_sigquit`] |
//! | `wg.Go(f)` (Go 1.25) | [`WaitGroup::go`](sync::WaitGroup::go) |
//! | `context.WithTimeoutCause`, `DeadlineExceeded.Timeout()` | [`Context::with_timeout_cause`](context::Context::with_timeout_cause), [`ContextError::is_timeout`](context::ContextError::is_timeout) |
//! | `ln.Close()` | [`TcpListener::close`](net::TcpListener::close) |
//! | (a readable-wait, golang/go#15735) | [`TcpStream::readable`](net::TcpStream::readable) + [`try_read`](net::TcpStream::try_read): an idle connection waits with no read buffer |
//! | `net.Listen("unix", ..)` | [`goro::net::{UnixListener, UnixStream, UnixDatagram}`](net) |
//! | `std::thread::Builder` (Go has no per-goroutine options) | [`goro::Spawn::new()`](Spawn)`.name("parser").stack_size(8 << 20).go(f)` / `.try_go(f)` |
//! | GC shrinking a parked goroutine's stack | `unsafe` [`Builder::compact_parked_stacks`]: stacks parked longer than a threshold are copied out and their pages released |
//! | a goroutine stack that grows to 1 GiB | [`goro::stack::maybe_grow`](stack::maybe_grow) (deep recursion on pooled segments), [`goro::stack::remaining`](stack::remaining) |
//! | `runtime.LockOSThread` / `UnlockOSThread` | [`goro::lock_os_thread`](lock_os_thread) / [`goro::unlock_os_thread`](unlock_os_thread) |
//! | raising `RLIMIT_NOFILE` for a server of many connections | [`Builder::reserve_fds`]: the descriptor table grown up front (default: the soft limit, at most 65 536), so accepting thousands of sockets never sleeps workers in the kernel's table growth |
//! | `debug.SetMaxThreads`; a goroutine blocked in a syscall (its P is handed off) | [`Builder::max_threads`]; a green thread blocked in a `std` call or a sync crate's lock loses its processor to a spare thread as soon as sysmon sees it (within 1 ms; 10 ms when computing), any number at once; a burst of them is handed off in a chain, each next owner giving the processor on before it resumes one (docs ch.2) |
//! | `fatal error: all goroutines are asleep - deadlock!` | the same, from [`run`]; where a thread goro does not know could still wake a green thread, a "possible deadlock" report instead ([`Builder::possible_deadlock_after`]) |
//! | `semaphore.Weighted`: `Acquire(ctx, n)` / `TryAcquire(n)`; a permit moved into a goroutine | [`sync::Semaphore::acquire_many`] / [`try_acquire_many`](sync::Semaphore::try_acquire_many); [`acquire_owned`](sync::Semaphore::acquire_owned) on an `Arc<Semaphore>` → [`sync::OwnedSemaphorePermit`] |
//! | a call known to block (`entersyscallblock`) | [`goro::blocking(f)`](blocking): the processor goes to a spare thread before `f` runs in place |
//! | `context.WithValue` / `WithCancelCause` / `WithoutCancel` / `AfterFunc` | [`Context::with_value`](context::Context::with_value) / [`with_cancel_cause`](context::Context::with_cancel_cause) / [`without_cancel`](context::Context::without_cancel) / [`after_func`](context::after_func) |
//!
//! The walkthrough of how each mechanism works is in [`docs`].

#![forbid(unsafe_code)]

#[doc(inline)]
pub use goro_runtime::{
    block_on, blocking, catch_unwind, dump, dump_to, go, local, lock_os_thread, metrics,
    num_goroutines, run, scope, sleep, try_go, unlock_os_thread, yield_now, Bucket, Builder,
    JoinHandle, LatencyHistogram, LeakCheck, LocalKey, Metrics, ProcessorMetrics, Runtime, Scope,
    ScopedJoinHandle, Spawn, DEADLOCK_MESSAGE, DEFAULT_MAX_THREADS,
    DEFAULT_POSSIBLE_DEADLOCK_AFTER, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE,
    SHUTDOWN_PAYLOAD,
};

#[doc(inline)]
pub use goro_runtime::trace;

/// The async bridge: [`block_on`] (a future run by the green thread that waits for it),
/// and goro awaited from async code — [`JoinHandle`] is a `Future`, channels have
/// `recv_async`/`send_async` ([`RecvFuture`](future::RecvFuture),
/// [`SendFuture`](future::SendFuture)), [`Context::cancelled`](context::Context::cancelled).
/// With the `tokio` feature, green threads run inside a tokio runtime's context
/// ([`Builder::tokio_handle`](Builder)).
pub mod future {
    #[doc(inline)]
    pub use goro_chan::future::{RecvFuture, SendFuture};
    #[doc(inline)]
    pub use goro_runtime::block_on;
}

/// Go's `sync` for green threads: `Mutex`, `RwLock`, `WaitGroup`, `Once`, `Semaphore`.
pub use goro_runtime::sync;

/// TCP, UDP and Unix sockets with std's shapes, parking the green thread on the netpoller.
pub use goro_runtime::net;

/// Deep recursion on demand: `maybe_grow(red_zone, stack_size, f)` and `remaining()` (the
/// `stacker` crate's shape, for green threads).
pub use goro_runtime::stack;

/// Low-level park/unpark, for building your own blocking primitives.
pub use goro_runtime::park;

/// Channels (Go's `chan`): `bounded(n)`, `Sender`/`Receiver`, errors, the dynamic `Select`.
pub mod chan {
    #[doc(inline)]
    pub use goro_chan::{
        bounded, never, IntoIter, Iter, Receiver, RecvError, RecvHandle, RecvTimeoutError, Select,
        SendError, SendHandle, SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
    };
}

/// Timers (Go's `time.After`, `time.Tick`, `time.Sleep`, `time.Timer`, `time.Ticker`,
/// `time.AfterFunc`), with Go 1.23's semantics.
pub mod time {
    #[doc(inline)]
    pub use goro_chan::time::{after, after_func, sleep, tick, Ticker, Timer};
    #[doc(inline)]
    pub use goro_runtime::now;
}

#[doc(inline)]
pub use goro_runtime::synctest;

#[doc(inline)]
pub use goro_chan::select;

/// Go's `context`: cancellation trees and deadlines; `done()` is a channel for `select!`.
pub mod context {
    #[doc(inline)]
    pub use goro_chan::context::{
        after_func, AfterFuncHandle, CancelCauseHandle, CancelHandle, Cause, Context, ContextError,
    };
}

/// Go's `os/signal`: Unix signals delivered to channels (`notify`), or as a cancelled
/// context (`notify_context`).
pub mod signal {
    #[doc(inline)]
    pub use goro_chan::signal::{ignore, ignored, notify, notify_context, reset};
}

/// Go's `errgroup`: run tasks, wait for all, keep the first error; `set_limit`.
pub mod errgroup {
    #[doc(inline)]
    pub use goro_chan::errgroup::Group;
}

/// The walkthrough: how goro works, one mechanism per chapter. Every code block in it is
/// compiled and run by `cargo test`.
pub mod docs {
    #[doc = include_str!("../docs/00-overview.md")]
    pub mod ch00_overview {}
    #[doc = include_str!("../docs/01-green-threads-and-stacks.md")]
    pub mod ch01_green_threads_and_stacks {}
    #[doc = include_str!("../docs/02-scheduler.md")]
    pub mod ch02_scheduler {}
    #[doc = include_str!("../docs/03-parking.md")]
    pub mod ch03_parking {}
    #[doc = include_str!("../docs/04-channels.md")]
    pub mod ch04_channels {}
    #[doc = include_str!("../docs/05-select.md")]
    pub mod ch05_select {}
    #[doc = include_str!("../docs/06-timers-and-netpoller.md")]
    pub mod ch06_timers_and_netpoller {}
    #[doc = include_str!("../docs/07-sync.md")]
    pub mod ch07_sync {}
    #[doc = include_str!("../docs/08-debugging.md")]
    pub mod ch08_debugging {}
    #[doc = include_str!("../docs/09-caveats.md")]
    pub mod ch09_caveats {}
    #[doc = include_str!("../docs/10-testing.md")]
    pub mod ch10_testing {}
    #[doc = include_str!("../docs/11-a-server-end-to-end.md")]
    pub mod ch11_a_server_end_to_end {}
    #[doc = include_str!("../docs/12-lock-ranks.md")]
    pub mod ch12_lock_ranks {}
    #[doc = include_str!("../docs/13-async-and-green-threads.md")]
    pub mod ch13_async_and_green_threads {}
    #[doc = include_str!("../docs/14-hooked-std-calls.md")]
    pub mod ch14_hooked_std_calls {}
    #[doc = include_str!("../docs/15-finding-a-bug.md")]
    pub mod ch15_finding_a_bug {}
    #[doc = include_str!("../docs/16-virtual-time.md")]
    pub mod ch16_virtual_time {}
}
