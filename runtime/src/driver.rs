//! A runtime's drivers (tokio's `driver::Handle`): its timer heap and its netpoller, held
//! beside the scheduler, and the calls that reach the caller's own — arming a timer, timer
//! callbacks, the poller a socket registers with. (A timed park arms its timer through the
//! parked G's runtime, `Schedule::wake_at`, so `park` needs no driver.)
//!
//! The drivers know nothing of the scheduler. The scheduler holds them (`Sched::driver`),
//! runs their timers and polls their poller from its workers, and tells them how to wake
//! its timekeeper when a timer becomes the earliest ([`Driver::set_timekeeper_wake`]). Code
//! running on a worker finds its runtime's drivers through the thread context
//! (`g/context.rs`); code anywhere else arms its timers on one global timer thread.
//!
//! So the data path of a socket read that parks runs downward — `net` → `netpoll` (the
//! poller found here) → `park` — and its wake-up goes up once, through the parked G's
//! `Schedule` (`readier`).
//!
//! # Invariants
//! 1. A worker's thread context points at the `Driver` of the runtime whose `Sched` the
//!    worker holds, so the driver outlives every use made through the context.
//! 2. The timekeeper wake is set once, right after the scheduler is created, before any
//!    worker starts; it holds the scheduler weakly (the scheduler owns the driver).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::g::context;
use crate::netpoll::Poller;
use crate::primitives::thread_parker::ThreadParker;
use crate::timer::{Action, TimerWaker, Timers};

/// The drivers of one runtime.
pub(crate) struct Driver {
    /// Every timer armed on this runtime's workers.
    pub(crate) timers: Timers,
    /// The runtime's epoll instance (`netpoll/`).
    pub(crate) poller: Arc<Poller>,
    /// Wakes the scheduler's timekeeper when a timer becomes the earliest (invariant 2).
    timekeeper_wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// A synctest bubble's clock, set before any worker starts; the real clock if unset.
    pub(crate) virtual_clock: OnceLock<VirtualClock>,
}

/// A synctest bubble's clock (`synctest.rs`): it starts at the real instant the bubble was
/// made and moves only when the bubble advances it to its next timer. `Instant` is opaque,
/// so the bubble's "fixed start" is that instant; what a test observes — durations between
/// readings of [`now`] — is exact and repeatable.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    /// Unique per bubble (process-wide counter), never 0: what a channel records to
    /// check it is used inside its own bubble.
    pub(crate) id: u64,
    start: Instant,
    /// Virtual nanoseconds since `start`.
    elapsed: AtomicU64,
}

impl VirtualClock {
    pub(crate) fn new() -> VirtualClock {
        static IDS: AtomicU64 = AtomicU64::new(1);
        VirtualClock {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            start: Instant::now(),
            elapsed: AtomicU64::new(0),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.start + Duration::from_nanos(self.elapsed.load(Ordering::Acquire))
    }

    /// Moves the clock forward to `t` (never back).
    pub(crate) fn advance_to(&self, t: Instant) {
        let ns = u64::try_from(t.saturating_duration_since(self.start).as_nanos())
            .unwrap_or(u64::MAX / 2);
        self.elapsed.fetch_max(ns, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("timers", &self.timers)
            .field("poller", &self.poller)
            .finish_non_exhaustive()
    }
}

impl Driver {
    pub(crate) fn new() -> std::io::Result<Driver> {
        Ok(Driver {
            timers: Timers::new(),
            poller: Arc::new(Poller::new()?),
            timekeeper_wake: OnceLock::new(),
            virtual_clock: OnceLock::new(),
        })
    }

    /// This runtime's time: its bubble's clock, or the real one.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self.virtual_clock.get() {
            Some(clock) => clock.now(),
            None => Instant::now(),
        }
    }

    /// Names what to call when a timer becomes the earliest (once, invariant 2).
    pub(crate) fn set_timekeeper_wake(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.timekeeper_wake.set(Box::new(wake));
    }

    /// Arms `waker` here, waking the timekeeper if it is now the earliest timer.
    fn arm(&self, deadline: Instant, waker: Arc<TimerWaker>) {
        if self.timers.insert(deadline, waker) {
            if let Some(wake) = self.timekeeper_wake.get() {
                wake();
            }
        }
    }
}

/// Calls `f` with the drivers of the calling worker's runtime (`None` off the workers).
/// `f` must not park (`g/context.rs`, point 2).
fn with_current<R>(f: impl FnOnce(Option<&Driver>) -> R) -> R {
    context::with(|c| {
        // SAFETY: a worker's context holds its runtime's `Driver` (invariant 1), alive
        // while the context is installed; the reference lives only for `f`.
        f(c.map(|c| unsafe { &*(c.driver() as *const Driver) }))
    })
}

/// The time the caller sees (Go's `time.Now`, as a monotonic `Instant`): inside a
/// [`synctest`](crate::synctest) bubble, the bubble's virtual clock; anywhere else
/// `Instant::now()`. Every goro timer, sleep, timeout and deadline reads it, so a program
/// that reads its time here can be tested in virtual time.
///
/// ```
/// use std::time::Duration;
/// let slept = goro_runtime::synctest::test(|| {
///     let t0 = goro_runtime::now();
///     goro_runtime::sleep(Duration::from_secs(3600)); // an hour, in microseconds of real time
///     goro_runtime::now() - t0
/// });
/// assert_eq!(slept, Duration::from_secs(3600));
/// ```
pub fn now() -> Instant {
    with_current(|d| d.map_or_else(Instant::now, Driver::now))
}

/// The id of the synctest bubble the caller runs in, 0 outside any.
pub(crate) fn current_bubble() -> u64 {
    with_current(|d| d.and_then(|d| d.virtual_clock.get()).map_or(0, |c| c.id))
}

/// The netpoller of the calling worker's runtime (`None` off the runtime).
pub(crate) fn current_poller() -> Option<Arc<Poller>> {
    with_current(|d| d.map(|d| d.poller.clone()))
}

/// The timers of code that runs outside any runtime worker (plain OS threads, or no
/// runtime at all): one lazily started thread sleeping until the earliest deadline.
struct GlobalTimers {
    timers: Timers,
    parker: ThreadParker,
}

static GLOBAL: OnceLock<&'static GlobalTimers> = OnceLock::new();

/// For deadlock detection: whether the global timer thread exists, and whether a timer of
/// it is pending (it may wake a green thread, e.g. an `after` channel made off-runtime).
pub(crate) fn global_thread() -> (bool, bool) {
    match GLOBAL.get() {
        Some(g) => (true, g.timers.next_deadline().is_some()),
        None => (false, false),
    }
}

fn global() -> &'static GlobalTimers {
    GLOBAL.get_or_init(|| {
        let g: &'static GlobalTimers = Box::leak(Box::new(GlobalTimers {
            timers: Timers::new(),
            parker: ThreadParker::new(),
        }));
        std::thread::Builder::new()
            .name("goro-timer".into())
            .spawn(move || loop {
                g.timers.fire_due(Instant::now());
                g.parker.park_until(g.timers.next_deadline());
            })
            .expect("goro: cannot start the timer thread");
        g
    })
}

/// Arms `waker` for `deadline` on the caller's runtime (a worker), or on the global timer
/// thread when the caller is not a worker.
pub(crate) fn arm(deadline: Instant, waker: Arc<TimerWaker>) {
    let off_runtime = with_current(|d| match d {
        Some(driver) => {
            driver.arm(deadline, waker);
            None
        }
        None => Some(waker),
    });
    let Some(waker) = off_runtime else { return };
    let g = global();
    if g.timers.insert(deadline, waker) {
        g.parker.unpark();
    }
}

/// A timer armed with [`call_at`]; dropping it does not cancel it.
#[derive(Debug, Clone)]
pub struct Timer {
    waker: Arc<TimerWaker>,
}

impl Timer {
    /// Disarms the timer. True if it had not fired yet (the callback will not run).
    pub fn cancel(&self) -> bool {
        self.waker.cancel()
    }

    /// True once the timer has fired.
    pub fn has_fired(&self) -> bool {
        self.waker.has_fired()
    }
}

/// True on a worker thread of a runtime (in a green thread, or in a timer callback run
/// between green threads): `go` works there.
#[doc(hidden)]
pub fn on_runtime() -> bool {
    context::with(|c| c.is_some())
}

/// Fires the caller's due timers now, if any: those of its runtime on a worker, else the
/// global ones. For timer channels, whose value must be there at the moment of a
/// receive (Go 1.23): a select calls it before it decides that nothing is ready, so two
/// expired timers are both ready and one is chosen at random. One relaxed load when no
/// timer is pending. Must not be called with a channel lock held (callbacks send).
#[doc(hidden)]
pub fn fire_due() {
    fn fire(timers: &Timers, now: impl FnOnce() -> Instant) {
        if timers.is_pending_relaxed() {
            let now = now();
            if timers.is_due(now) {
                timers.fire_due(now);
            }
        }
    }
    // Callbacks do not park (`call_at`), so the worker stays ours while they run.
    with_current(|d| match d {
        Some(driver) => fire(&driver.timers, || driver.now()),
        None => {
            if let Some(g) = GLOBAL.get() {
                fire(&g.timers, Instant::now);
            }
        }
    });
}

/// Runs `f` at `deadline`, on a worker of the caller's runtime, or on goro's timer thread
/// when called outside a runtime. `f` must not block (it runs between green threads):
/// timer channels use it to `try_send`. A deadline in the past fires at the next check.
pub fn call_at(deadline: Instant, f: impl FnOnce() + Send + 'static) -> Timer {
    let waker = TimerWaker::with_action(Action::Call(Box::new(f)));
    arm(deadline, waker.clone());
    Timer { waker }
}
