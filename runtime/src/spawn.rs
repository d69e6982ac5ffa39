//! The green-thread free functions a Go programmer reaches for: `go`, `yield_now`,
//! `sleep`, `num_goroutines`.

use std::io;
use std::panic::{resume_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::g::G;
use crate::join::{JoinHandle, JoinState};
use crate::park::{self, WaitReason, WaitingOn};
use crate::scheduler::context::{self, current_sched};
use crate::scheduler::worker::PAccess;
use crate::scheduler::Sched;
use crate::stacks::{self, Stack};
use crate::timer::TimerWaker;

/// Starts a green thread running `f` (Go's `go f()`), on the caller's runtime.
///
/// Panics when called outside a runtime (start one with [`crate::run`] or use
/// [`crate::Runtime::spawn`]) and when the stack cannot be mapped (see [`try_go`]).
///
/// # Backpressure
/// `go` does not wait for the new green thread, but it may let others run first: when no
/// finished green thread's stack is at hand for reuse and the calling worker already
/// queues 128 or more unstarted green threads, it yields once (as Go's scheduler may
/// preempt a goroutine at any call). A loop that spawns faster than its green threads run
/// then recycles a few hundred stacks instead of mapping one per green thread, which would
/// exhaust `vm.max_map_count`. Like any yield, it may resume the caller on another worker:
/// do not hold a `thread_local!` reference or a `std::sync::MutexGuard` across `go` (the
/// caveats chapter of the walkthrough).
///
/// ```
/// goro_runtime::run(|| {
///     let hs: Vec<_> = (0..10).map(|i| goro_runtime::go(move || i * i)).collect();
///     let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
///     assert_eq!(sum, 285);
/// });
/// ```
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    try_go(f).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`go`], but returns an error instead of panicking when the green thread's stack
/// cannot be mapped (the message names `vm.max_map_count` / `RLIMIT_AS` and the fix).
/// Still panics outside a runtime: that is a programming error, not a resource limit.
#[track_caller]
pub fn try_go<F, T>(f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = Location::caller();
    // Spawning does not switch, so inside `with_worker` the worker stays ours. Borrowing
    // its `sched` instead of cloning the `Arc` keeps the spawn path off the runtime's
    // reference count.
    let f = match context::with_worker(move |w| {
        let Some(ctx) = w else {
            panic!(
                "goro::go called outside a goro runtime (at {site}): start one with \
                 `goro::run(|| ...)`, or spawn from a plain thread with `Runtime::spawn`"
            )
        };
        // The caller's processor, if it has one (a worker that lost its processor to a
        // handoff spawns as from a plain thread).
        let p = ctx.p_access();
        if p.as_ref().is_some_and(|p| p.spawn_should_yield(&ctx.sched)) {
            return Err(f);
        }
        Ok(spawn_on(&ctx.sched, p, f, site, None))
    }) {
        Ok(spawned) => return spawned,
        Err(f) => f,
    };
    // Backpressure: no recycled green thread is at hand and this worker already queues
    // many unstarted ones, so let it run some (they recycle their stacks) before we map
    // another. The yield may move us to another worker: the context is read again.
    park::yield_green();
    context::with_worker(move |w| {
        let ctx = w.expect("a green thread resumes on a worker");
        spawn_on(&ctx.sched, ctx.p_access(), f, site, None)
    })
}

/// Lets other green threads run (Go's `runtime.Gosched`): the caller goes to the back of
/// its worker's queue. On a plain OS thread, `std::thread::yield_now`.
pub fn yield_now() {
    if !park::yield_green() {
        std::thread::yield_now();
    }
}

/// Sleeps for `d` (Go's `time.Sleep`). In a green thread only the green thread waits, on a
/// runtime timer; on a plain OS thread the thread sleeps. Any `Duration` is accepted,
/// `Duration::MAX` included.
pub fn sleep(d: Duration) {
    let Some(sched) = current_sched() else {
        // An OS thread sleeping in goro may send to a green thread when it wakes:
        // deadlock detection counts it as a possible waker.
        return park::as_os_waiter(|| std::thread::sleep(d));
    };
    if d.is_zero() {
        return yield_now();
    }
    match sched.driver.now().checked_add(d) {
        Some(deadline) => sleep_until_in(&sched, deadline),
        None => loop {
            // Beyond the end of time: sleep a century at a time. A pending timer keeps
            // deadlock detection quiet, as a long `time.Sleep` does in Go.
            match sched
                .driver
                .now()
                .checked_add(Duration::from_secs(100 * 365 * 86_400))
            {
                Some(far) => sleep_until_in(&sched, far),
                None => park::park(WaitReason::Sleep, || {}),
            }
        },
    }
}

fn sleep_until_in(sched: &Sched, deadline: Instant) {
    let wakes_at = sched.coarse_of(deadline).max(1);
    let waker = TimerWaker::new(park::current());
    sched.arm_timer(deadline, waker.clone());
    while !waker.has_fired() {
        park::park_on(WaitingOn::sleep(wakes_at), || {});
    }
}

/// Live green threads of the caller's runtime (Go's `runtime.NumGoroutine`), the caller
/// included; 0 on a thread outside any runtime.
pub fn num_goroutines() -> usize {
    current_sched().map_or(0, |s| s.live())
}

/// [`std::panic::catch_unwind`] for code inside green threads: catches the code's own
/// panics, but lets through the unwind a dropped runtime uses to tear down green threads
/// still parked (catching that would leave a half-destroyed green thread running).
///
/// Use it instead of `std::panic::catch_unwind` around code that may park.
///
/// ```
/// goro_runtime::run(|| {
///     let r = goro_runtime::catch_unwind(|| -> i32 { panic!("boom") });
///     assert!(r.is_err());
/// });
/// ```
pub fn catch_unwind<F, R>(f: F) -> std::thread::Result<R>
where
    F: FnOnce() -> R + std::panic::UnwindSafe,
{
    match std::panic::catch_unwind(f) {
        Err(p) if park::is_unwinding_runtime() => std::panic::resume_unwind(p),
        r => r,
    }
}

/// Options for one green thread, in `std::thread::Builder`'s shape: a name (shown by
/// [`dump`](crate::dump), in the overflow message, and in a line before its panic message)
/// and a stack reservation of its own.
///
/// Names are interned for the life of the process (diagnostics may read them at any
/// moment): use a fixed set of names, as for Go's pprof labels, not one per request.
///
/// ```
/// goro_runtime::run(|| {
///     let h = goro_runtime::Spawn::new()
///         .name("parser")
///         .stack_size(8 << 20) // this one green thread recurses deeply
///         .go(|| 6 * 7);
///     assert_eq!(h.join().unwrap(), 42);
/// });
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Spawn does nothing until `go` or `try_go`"]
pub struct Spawn {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
}

impl Spawn {
    /// No name, the runtime's stack size.
    pub fn new() -> Spawn {
        Spawn::default()
    }

    /// Names the green thread.
    pub fn name(mut self, name: impl Into<String>) -> Spawn {
        self.name = Some(name.into());
        self
    }

    /// Gives this green thread a stack reservation of `bytes` (between
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) and
    /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE)) instead of the runtime's.
    pub fn stack_size(mut self, bytes: usize) -> Spawn {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the green thread, as [`go`]; panics where `go` does, and on an invalid
    /// stack size.
    #[track_caller]
    pub fn go<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_go(f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the green thread, as [`try_go`]: an invalid stack size or a stack that
    /// cannot be had is an error.
    #[track_caller]
    pub fn try_go<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        if let Some(bytes) = self.stack_size {
            if !(crate::MIN_STACK_SIZE..=crate::MAX_STACK_SIZE).contains(&bytes) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "goro: Spawn::stack_size must be between {} and {} bytes, got {bytes}",
                        crate::MIN_STACK_SIZE,
                        crate::MAX_STACK_SIZE
                    ),
                ));
            }
        }
        context::with_worker(|w| {
            let Some(ctx) = w else {
                panic!(
                    "goro::Spawn::go called outside a goro runtime (at {site}): start one \
                     with `goro::run(|| ...)`"
                )
            };
            spawn_on(&ctx.sched, ctx.p_access(), f, site, Some(&self))
        })
    }
}

/// Installs, once, a panic hook that names the green thread before the panic message —
/// its id, its name if it has one, and where it was spawned (std's message names only the
/// OS thread, a worker, as `goro-worker-1`). Chains to the hook installed before. Every
/// runtime installs it when it starts.
pub(crate) fn name_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    if std::thread::panicking() {
        return; // std refuses to change the hook from a panicking thread
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(g) = crate::g::context::running_g() {
                // SAFETY: the running G is alive while it runs; we are on its stack.
                let g = unsafe { &*g };
                let site = g
                    .spawn_site()
                    .map_or_else(|| "?".to_string(), |l| l.to_string());
                match g.name() {
                    Some(name) => eprintln!(
                        "goro: green thread {} {name:?} panicked (spawned at {site}):",
                        g.id()
                    ),
                    None => {
                        eprintln!(
                            "goro: green thread {} panicked (spawned at {site}):",
                            g.id()
                        )
                    }
                }
            }
            previous(info);
        }));
    });
}

/// The process-wide copy of `name` (leaked once per distinct name).
pub(crate) fn intern(name: &str) -> &'static &'static str {
    use std::collections::HashMap;
    static NAMES: crate::lock::Mutex<Option<HashMap<&'static str, &'static &'static str>>> =
        crate::lock::Mutex::new(None);
    let mut names = NAMES.lock();
    let names = names.get_or_insert_with(HashMap::new);
    if let Some(n) = names.get(name) {
        return n;
    }
    let s: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let n: &'static &'static str = Box::leak(Box::new(s));
    names.insert(s, n);
    n
}

/// Spawns a green thread in `sched`'s runtime: onto the caller's processor `p` (`runnext`,
/// Go's `newproc`) when the caller is one of its workers and still owns one, otherwise onto
/// the global queue.
pub(crate) fn spawn_on<F, T>(
    sched: &Arc<Sched>,
    p: Option<PAccess<'_>>,
    f: F,
    site: &'static Location<'static>,
    opts: Option<&Spawn>,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // A green thread with a stack size of its own gets a fresh G (the pools hold the
    // runtime's size); it is discarded, not pooled, when it finishes (`worker::finish`).
    let size = opts.and_then(|o| o.stack_size).unwrap_or(sched.stack_size);
    let dead = match (&p, size == sched.stack_size) {
        (_, false) => None,
        (Some(p), true) => p.get_dead_g(sched),
        (None, true) => sched.gpool.get(),
    };
    let g = match dead {
        Some(g) => g,
        None => {
            let stack = Stack::new(size).map_err(|e| stacks::map_error(e, size, sched.live()))?;
            let g = G::fresh(sched.clone(), stack);
            sched.registry.insert(g.clone());
            g
        }
    };
    let id = match &p {
        Some(p) => p.next_id(sched),
        None => sched.reserve_ids(1),
    };
    if crate::diag::trace::on() {
        crate::diag::trace::record(crate::diag::trace::Kind::Spawn, id, 0);
    }
    let join = Arc::new(JoinState::<T>::new());
    let result = join.clone();
    let body = move |g: &G| {
        let _locals = crate::g::locals::DropLocalsOnExit(g); // dropped last: after the result is stored
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        if let Err(p) = r {
            if g.is_unwinding() {
                resume_unwind(p); // shutdown's forced unwind: let it through
            }
            // SAFETY: we are the green thread, storing its result once, before completion.
            unsafe { result.set(Err(p)) };
        } else {
            // SAFETY: as above.
            unsafe { result.set(r) };
        }
    };
    // SAFETY: `g` is fresh or came from a free list: dead and exclusively ours.
    unsafe { g.start(id, site, join.clone(), body) };
    if let Some(name) = opts.and_then(|o| o.name.as_deref()) {
        g.set_name(Some(intern(name)));
    }
    g.diag.set_waiting_on(0, 0);
    g.set_runnable(sched.coarse_now());
    match p {
        Some(p) => {
            let counter = &sched.remotes[p.index].started;
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
            p.ready_next(g, sched, true);
        }
        None => {
            sched.started_outside.fetch_add(1, Ordering::AcqRel);
            sched.inject(g);
        }
    }
    let bubble = sched.driver.virtual_clock.get().map_or(0, |c| c.id);
    Ok(JoinHandle::new(join, id).in_bubble(bubble))
}
