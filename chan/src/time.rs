//! Timer channels (`goro::time`): ordinary channels fed by runtime timers, so a timeout is
//! just another `recv` case in `select!` — plus Go's `Timer`, `Ticker` and `AfterFunc`.
//!
//! # Go 1.23's semantics
//! * **No stale value after `stop` or `reset`.** A timer's callback sends only if the
//!   timer's generation is still the one it was armed with, checked under the timer's
//!   lock; `stop` and `reset` bump the generation and empty the channel under the same
//!   lock. So once they return, nothing armed before them can be received.
//! * **Ready at the moment of the receive.** An expired timer's value is in its channel
//!   when a receive or select looks: a timer whose deadline has passed at creation sends
//!   at once (`after(Duration::ZERO)` is ready immediately), and `select` fires the
//!   caller's due timers before it decides that nothing is ready
//!   ([`goro_runtime::__private::fire_due`]), so two expired timers are both ready and one is
//!   chosen at random.
//! * **Dropping cancels and frees.** Dropping a `Timer` or `Ticker`, or the last receiver
//!   of an `after`/`tick` channel, cancels its timer at once (an `after_func` runs even if
//!   its handle is dropped, as Go's does); the timer heap drops
//!   cancelled entries when it grows past twice its live ones, so abandoned timers do not
//!   accumulate.
//!
//! # Lock order
//! A timer's `state` lock is taken before its channel's lock (the callback sends under
//! it), never the other way round.

use goro_runtime::__private::Mutex;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_runtime::__private::call_at;

use crate::channel::{bounded, never, Receiver, Sender};

/// A channel that receives the current time once, after `d` (Go's `time.After`).
///
/// Like Go's, the channel is never closed: after its one value it stays empty. A `d` too
/// large to represent never fires. Dropping the receiver cancels the timer.
///
/// ```
/// use std::time::Duration;
/// let t = goro_chan::time::after(Duration::from_millis(5));
/// assert!(t.recv().is_ok());
/// assert!(goro_chan::time::after(Duration::ZERO).try_recv().is_ok(), "ready at once");
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    receiver_owned(parts(d, None, None))
}

/// A timer owned by its channel's receivers: dropping the last one cancels it (the hook
/// holds the timer's state until then; the armed callback holds only a weak reference).
fn receiver_owned((rx, state): (Receiver<Instant>, Arc<Shared>)) -> Receiver<Instant> {
    rx.chan.set_on_receivers_gone(Box::new(move || {
        state.lock().cancel();
    }));
    rx
}

/// A channel that receives the time every `d` (Go's `time.Tick`). It buffers at most one
/// tick: a slow reader misses ticks instead of queueing them. `d == 0` returns a channel
/// that never ticks (Go returns nil). The ticker stops once every receiver is dropped.
pub fn tick(d: Duration) -> Receiver<Instant> {
    if d.is_zero() {
        return never();
    }
    receiver_owned(parts(d, Some(d), None))
}

/// Sleeps for `d` (same as `goro::sleep`).
pub fn sleep(d: Duration) {
    goro_runtime::sleep(d)
}

/// A single event after a duration (Go's `time.Timer`): its [`receiver`](Self::receiver)
/// gets the time once the timer fires. [`stop`](Self::stop) and [`reset`](Self::reset)
/// have Go 1.23's semantics: once they return, no value from before them is received.
/// Dropping the timer cancels it.
///
/// ```
/// use std::time::Duration;
/// use goro_chan::time::Timer;
/// goro_runtime::run(|| {
///     let t = Timer::new(Duration::from_secs(3600));
///     assert!(t.reset(Duration::from_millis(5)), "it was active");
///     assert!(t.receiver().recv().is_ok());
///     assert!(!t.stop(), "already fired");
/// });
/// ```
pub struct Timer {
    rx: Receiver<Instant>,
    state: Arc<Shared>,
    /// The synctest bubble it was made in (0: none): its clock is that bubble's, so it is
    /// stopped and reset only there (`check_bubble`).
    bubble: u64,
}

/// A timer that sends at a fixed period (Go's `time.Ticker`), dropping ticks for a slow
/// reader (its channel holds one). Dropping it stops it.
///
/// ```
/// use std::time::Duration;
/// goro_runtime::run(|| {
///     let ticker = goro_chan::time::Ticker::new(Duration::from_millis(2));
///     for _ in 0..3 {
///         ticker.receiver().recv().unwrap();
///     }
///     ticker.stop();
///     assert!(ticker.receiver().recv_timeout(Duration::from_millis(20)).is_err());
/// });
/// ```
pub struct Ticker(Timer);

/// What the timer's callback and its owner share.
type Shared = Mutex<State>; // behind an `Arc`

struct State {
    /// Bumped by every stop and reset: a callback armed with an older one does nothing.
    generation: u64,
    /// The armed runtime timer, while active.
    armed: Option<goro_runtime::__private::Timer>,
    /// Where the value goes (`None` for an `after_func` timer).
    tx: Option<Sender<Instant>>,
    /// `Some` for a ticker: the period it re-arms with.
    period: Option<Duration>,
    /// An `after_func` timer's function, run in a new green thread when it fires (taken
    /// then: it runs once).
    func: Option<Func>,
    /// An `after_func` timer (its `func` may be gone once it ran).
    is_func: bool,
}

impl State {
    /// Disarms; true if the timer was active. Later callbacks of older generations do
    /// nothing.
    fn cancel(&mut self) -> bool {
        self.generation += 1;
        self.armed.take().is_some_and(|t| t.cancel())
    }
}

impl Timer {
    /// A timer that fires once, after `d`.
    #[must_use = "dropping a Timer cancels it"]
    pub fn new(d: Duration) -> Timer {
        Timer::build(d, None, None)
    }

    fn build(d: Duration, period: Option<Duration>, func: Option<Func>) -> Timer {
        let (rx, state) = parts(d, period, func);
        Timer {
            rx,
            state,
            bubble: goro_runtime::__private::current_bubble(),
        }
    }

    /// Panics if the caller is in another synctest bubble than the timer's (or in one,
    /// for a timer made outside any): a timer runs on the clock it was made on.
    fn check_bubble(&self) {
        if goro_runtime::__private::current_bubble() != self.bubble {
            panic!(
                "goro: a Timer or Ticker was stopped or reset outside the synctest bubble \
                 it was made in (or inside a bubble, having been made outside): its clock \
                 is the other one"
            );
        }
    }

    /// The channel the time is sent on (Go's `t.C`). For an [`after_func`] timer it never
    /// receives.
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the timer. True if this call stopped it: it had not fired, or its value had
    /// not been received (Go 1.23: a timer whose value nobody received is still running,
    /// so `if !t.stop() { t.receiver().recv() }` never waits for a value that is gone).
    /// False if it had been stopped, or had fired and its value was received. No value
    /// sent before `stop` returned is received afterwards.
    pub fn stop(&self) -> bool {
        self.check_bubble();
        let mut st = self.state.lock();
        let was_active = st.cancel();
        let unreceived = drain(&self.rx);
        was_active || unreceived
    }

    /// Re-arms the timer to fire after `d`. True if it was active (as for
    /// [`stop`](Self::stop): not fired, or fired with its value not yet received). No value
    /// from before the reset is received afterwards. For an [`after_func`] timer whose
    /// function already ran, there is nothing left to run: the reset arms nothing (Go runs
    /// the function again; goro's takes an `FnOnce`, as its API asks, so it ran once).
    pub fn reset(&self, d: Duration) -> bool {
        self.check_bubble();
        let mut st = self.state.lock();
        let was_active = st.cancel();
        let unreceived = drain(&self.rx);
        let f = arm(&self.state, &mut st, d);
        drop(st);
        start(f);
        was_active || unreceived
    }
}

/// An `after_func` timer's function: it runs at most once.
type Func = Box<dyn FnOnce() + Send>;

/// A timer's channel and state, armed for `d`.
fn parts(
    d: Duration,
    period: Option<Duration>,
    func: Option<Func>,
) -> (Receiver<Instant>, Arc<Shared>) {
    let is_func = func.is_some();
    let (tx, rx) = if is_func {
        (None, never())
    } else {
        let (tx, rx) = bounded(1);
        rx.chan.report_unbuffered(); // Go 1.23's timer channels: len 0, cap 0
        (Some(tx), rx)
    };
    let state = Arc::new(Mutex::new(State {
        generation: 0,
        armed: None,
        tx,
        period,
        func,
        is_func,
    }));
    let f = arm(&state, &mut state.lock(), d);
    start(f);
    (rx, state)
}

impl Ticker {
    /// A ticker with period `d`.
    ///
    /// # Panics
    /// If `d` is zero (Go panics too: "non-positive interval for NewTicker").
    #[must_use = "dropping a Ticker stops it"]
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "goro::time::Ticker::new: zero period");
        Ticker(Timer::build(d, Some(d), None))
    }

    /// The channel the ticks are sent on (Go's `t.C`).
    pub fn receiver(&self) -> &Receiver<Instant> {
        self.0.receiver()
    }

    /// Stops the ticker; no tick from before is received afterwards.
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Changes the period to `d` and restarts the ticker from now.
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "goro::time::Ticker::reset: zero period");
        let mut st = self.0.state.lock();
        st.cancel();
        st.period = Some(d);
        drain(&self.0.rx);
        let none = arm(&self.0.state, &mut st, d); // a ticker has no function
        debug_assert!(none.is_none());
    }
}

/// Runs `f` in a new green thread after `d` (Go's `time.AfterFunc`); off a runtime, on a
/// new OS thread. The returned timer's `stop` prevents it; `reset` runs it again later.
/// Unlike a [`Timer`], dropping the handle does not cancel it (Go's idiom of discarding
/// `AfterFunc`'s result).
///
/// ```
/// use std::time::Duration;
/// goro_runtime::run(|| {
///     let (tx, rx) = goro_chan::bounded(1);
///     let _t = goro_chan::time::after_func(Duration::from_millis(2), move || {
///         let _ = tx.try_send("fired");
///     });
///     assert_eq!(rx.recv(), Ok("fired"));
///     let never = goro_chan::time::after_func(Duration::from_millis(1), || unreachable!());
///     assert!(never.stop());
/// });
/// ```
pub fn after_func(d: Duration, f: impl FnOnce() + Send + 'static) -> Timer {
    Timer::build(d, None, Some(Box::new(f)))
}

/// Empties a timer's channel (under the timer's lock, so no callback interleaves); true if
/// it held a value nobody had received.
fn drain(rx: &Receiver<Instant>) -> bool {
    let mut drained = false;
    while rx.try_recv().is_ok() {
        drained = true;
    }
    drained
}

/// Arms the timer for `d` from now, with the current generation. A zero `d` fires now, so
/// the value is there for the next receive (the function to start, if any, is returned).
#[must_use]
fn arm(shared: &Arc<Shared>, st: &mut State, d: Duration) -> Option<Func> {
    let Some(at) = goro_runtime::now().checked_add(d) else {
        return None; // too far to represent: never fires
    };
    if st.is_func && st.func.is_none() {
        return None; // an `after_func` whose function already ran: nothing to run again
    }
    if d.is_zero() && st.period.is_none() {
        return fire(st);
    }
    let generation = st.generation;
    // A channel timer is kept alive by its owner (a `Timer`, or an `after` channel's
    // receivers) and dies with it; an `after_func` timer keeps itself alive until it
    // fires, so discarding its handle does not cancel it (Go's idiom).
    let owner = if st.is_func {
        Owner::Strong(shared.clone())
    } else {
        Owner::Weak(Arc::downgrade(shared))
    };
    st.armed = Some(call_at(at, move || {
        let Some(shared) = owner.get() else { return };
        let mut st = shared.lock();
        if st.generation != generation {
            return; // stopped or reset since: a stale firing
        }
        st.armed = None;
        let f = fire(&mut st);
        if let Some(p) = st.period {
            rearm_tick(&shared, &mut st, at, p);
        }
        drop(st);
        start(f);
    }));
    None
}

/// How an armed callback holds its timer's state.
enum Owner {
    Strong(Arc<Shared>),
    Weak(std::sync::Weak<Shared>),
}

impl Owner {
    fn get(&self) -> Option<Arc<Shared>> {
        match self {
            Owner::Strong(s) => Some(s.clone()),
            Owner::Weak(w) => w.upgrade(),
        }
    }
}

/// Delivers one firing: the time on the channel (dropped if it is full, as Go's). An
/// `after_func` timer's function is returned, to be started once the lock is released.
#[must_use]
fn fire(st: &mut State) -> Option<Func> {
    if let Some(tx) = &st.tx {
        let _ = tx.try_send(goro_runtime::now());
    }
    st.func.take()
}

/// Starts an `after_func` function in a new green thread (an OS thread off the runtime).
fn start(f: Option<Func>) {
    if let Some(f) = f {
        crate::spawn_detached(f);
    }
}

/// A ticker's next deadline on its original grid, skipping ticks missed entirely.
fn rearm_tick(shared: &Arc<Shared>, st: &mut State, last: Instant, period: Duration) {
    let now = goro_runtime::now();
    let mut next = last.checked_add(period);
    while let Some(n) = next {
        if n > now {
            break;
        }
        next = n.checked_add(period);
    }
    if let Some(n) = next {
        let d = n
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let none = arm(shared, st, d); // a ticker has no function
        debug_assert!(none.is_none());
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let mut st = self.state.lock();
        if !st.is_func {
            st.cancel(); // an `after_func` runs even if its handle is dropped
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("active", &self.state.lock().armed.is_some())
            .finish()
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker")
            .field("period", &self.0.state.lock().period)
            .finish()
    }
}
