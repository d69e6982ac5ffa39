//! `goro::synctest`: concurrent code tested in virtual time, deterministically (Go 1.25's
//! `testing/synctest`).
//!
//! # The bubble
//! [`test`] runs its function as the root green thread of a *bubble*: a runtime of its own
//! with one processor, whose green threads are the bubble's (every `go` inside it spawns
//! into it), and whose driver has a virtual clock (`driver::VirtualClock`) instead of the
//! real one. Everything goro times — `sleep`, `after`, `tick`, `Timer`, `Ticker`,
//! `after_func`, channel and context deadlines, `Condvar::wait_timeout`, [`now`] — reads
//! that clock, and the clock moves only here: when every green thread of the bubble is
//! *durably blocked*, it jumps to the earliest timer and fires it.
//!
//! # Durably blocked (Go's list, in goro's words)
//! A green thread is durably blocked when it is parked on something only the bubble can
//! wake (`WaitReason::is_durable`): a channel made inside the bubble (send, receive,
//! `select!` over such channels only), a sleep or timer of the bubble, a `join`, a
//! `WaitGroup`, a `Condvar`, a `Semaphore` (the last three only if nothing outside the
//! bubble has used them, `sync/bubble_tag.rs`), and — unlike Go — a `Mutex` held by a
//! green thread of the bubble (goro records who holds a lock). It is **not** when it is
//! running or runnable, in a `blocking` call or any system call, waiting on a socket, on an
//! `RwLock` or on a `Mutex` held elsewhere (as Go rules for `sync.Mutex`), on a `Once`, on
//! a future, or on a channel made outside the bubble. While any green thread of the bubble
//! is not durably blocked, time stands still.
//!
//! # The step (run by the bubble's worker before it sleeps)
//! With nothing runnable, the worker looks at every green thread of the bubble. If all of
//! them other than a [`wait`]er are durably blocked: it wakes the `wait`er; else (no
//! waiter) it advances the clock to the earliest timer and fires what is due; with no timer
//! left, the bubble is deadlocked for certain — nothing inside can move, and nothing
//! outside may touch it (isolation below) — and `test` fails at once with the bubble's
//! dump. After the root returns, `test` waits the same way for the bubble's other green
//! threads to finish (Go's `synctest.Test`), and reports the ones that never will.
//!
//! # Isolation
//! A channel made inside a bubble records the bubble's id; using it from anywhere else
//! (another runtime, an OS thread, another bubble) panics, as Go's does. A `Timer` or
//! `Ticker` made outside a bubble cannot be reset or stopped inside one (and vice versa):
//! its clock is another.
//!
//! # Determinism
//! The bubble has one processor and no handoff (sysmon does not retake it), so green
//! threads run one at a time; what is random in goro — `select!`'s choice among ready
//! cases, the order of timers due together — draws from the bubble's seed, and so does the
//! run order: a green thread made runnable goes to the front of the queue (`runnext`) or
//! to its back by a coin of the seed, so which of several readied green threads runs first
//! differs from seed to seed. A failing test prints its seed; `GORO_SEED=<seed>` replays the same
//! schedule. [`explore`] runs a test under many seeds (shuttle's random scheduler, for
//! the choices goro makes). Real I/O, `blocking` calls and OS threads stay outside that
//! promise.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::g::Status;
use crate::lock::Mutex;
use crate::park::{self, is_durable_wait, Unparker, WaitReason, WaitingOn};
use crate::runtime::Outcome;
use crate::scheduler::Sched;
use crate::sysmon::Monitor;

/// What the worker of a bubble runtime needs (`Sched::bubble`).
#[derive(Debug)]
pub(crate) struct Bubble {
    /// The seed of every random choice in the bubble.
    pub(crate) seed: u64,
    /// The green thread parked in [`wait`] or at the end of [`test`], if any.
    waiter: Mutex<Option<Waiter>>,
    /// Where the verdict goes (the `test` caller watches it), set at start.
    pub(crate) monitor: OnceLock<Arc<Monitor>>,
    /// A deadlock was declared: the worker only sleeps from now on.
    declared: AtomicBool,
}

#[derive(Debug)]
struct Waiter {
    who: Unparker,
    /// The waiter's G, to leave it out of the scan.
    g: usize,
    /// True at the end of `test` (wake when no other green thread is left); false for
    /// `wait` (wake when every other one is durably blocked).
    exit: bool,
}

/// What [`Bubble::step`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Something was readied (a waiter, or timers fired): look for work again.
    Moved,
    /// Some green thread is not durably blocked (or the verdict is in): sleep until woken.
    Idle,
}

impl Bubble {
    pub(crate) fn new(seed: u64) -> Bubble {
        Bubble {
            seed,
            waiter: Mutex::new(None),
            monitor: OnceLock::new(),
            declared: AtomicBool::new(false),
        }
    }

    /// Run by the bubble's only worker when it has nothing to run (module docs).
    pub(crate) fn step(&self, sched: &Sched) -> Step {
        if self.declared.load(Ordering::Relaxed) {
            return Step::Idle;
        }
        let waiter_g = self.waiter.lock().as_ref().map_or(0, |w| w.g);
        let mut others = 0usize;
        let mut any = waiter_g != 0;
        let gs = sched.registry.snapshot();
        let stacks: Vec<std::ops::Range<usize>> =
            gs.iter().map(|g| g.guard.usable_range()).collect();
        for g in &gs {
            if g.diag.status() == Status::Dead || crate::g::GRef::as_ptr(g) as usize == waiter_g {
                continue;
            }
            let parked = g.diag.status() == Status::Parked;
            if !parked
                || !(is_durable_wait(g.wait_reason.load(Ordering::Relaxed))
                    || holder_is_inside(g, &stacks))
            {
                return Step::Idle;
            }
            others += 1;
            any = true;
        }
        if !any {
            return Step::Idle; // no green thread yet (or any more): nothing to decide
        }
        if !sched.injector.is_empty() {
            return Step::Idle; // readied from outside meanwhile: run it first
        }
        let root_returned = {
            let mut w = self.waiter.lock();
            if w.as_ref().is_some_and(|w| !w.exit || others == 0) {
                let w = w.take().expect("checked");
                w.who.unpark();
                return Step::Moved;
            }
            w.is_some()
        };
        if root_returned {
            // Go's rule: once the root has returned, time stands still; green threads
            // left durably blocked are a deadlock even if a timer (a ticker) could wake
            // them, or the test would run on in virtual time for ever.
            self.declare(sched, others);
            return Step::Idle;
        }
        let timers = &sched.driver.timers;
        if let (Some(next), Some(clock)) =
            (timers.next_deadline(), sched.driver.virtual_clock.get())
        {
            clock.advance_to(next);
            timers.fire_due(clock.now());
            return Step::Moved;
        }
        self.declare(sched, others);
        Step::Idle
    }

    /// Every green thread of the bubble is durably blocked and no timer is left.
    fn declare(&self, sched: &Sched, others: usize) {
        self.declared.store(true, Ordering::Relaxed);
        let root_done = self.waiter.lock().as_ref().is_some_and(|w| w.exit);
        let what = if root_done {
            format!(
                "the test function returned, but {others} green thread(s) of the bubble are \
                 still durably blocked (time stops when the test function returns)"
            )
        } else {
            "every green thread in the bubble is durably blocked and no timer is pending"
                .to_string()
        };
        let report = format!(
            "goro::synctest: deadlock: {what} (seed {seed}; GORO_SEED={seed} replays this \
             schedule)\n\n{}",
            crate::diag::dump::dump_runtime(sched),
            seed = self.seed
        );
        if let Some(m) = self.monitor.get() {
            m.declare(report);
        }
    }

    /// Parks the calling green thread until the worker wakes it (`exit`: when it is the
    /// last one; else when every other one is durably blocked).
    fn park_waiter(&self, exit: bool) {
        let g = park::current();
        let me = g.green_ptr().map_or(0, |p| p as usize);
        {
            let mut w = self.waiter.lock();
            if w.is_some() {
                drop(w);
                panic!(
                    "goro::synctest::wait: another green thread of this bubble is already waiting"
                );
            }
            *w = Some(Waiter {
                who: g,
                g: me,
                exit,
            });
        }
        // The worker takes the record out when it wakes us; a wake-up that finds it still
        // there is spurious.
        loop {
            park::park_on(WaitingOn::reason(WaitReason::Synctest), || {});
            if !self.waiter.lock().as_ref().is_some_and(|w| w.g == me) {
                return;
            }
        }
    }
}

/// True if `g` waits on a goro `Mutex` held by a green thread of this bubble (`stacks`:
/// theirs). Go counts every `sync.Mutex` wait as not durable, so a bubble whose green
/// thread holds a lock across a sleep hangs there; goro knows the holder (`Mutex::lock`
/// records an address on its stack), and a lock only the bubble's own green thread can
/// release is as durable as a channel.
fn holder_is_inside(g: &crate::g::G, stacks: &[std::ops::Range<usize>]) -> bool {
    let byte = g.wait_reason.load(Ordering::Relaxed);
    if byte != WaitReason::MutexLock as u8 {
        return false;
    }
    let (object, _) = g.diag.waiting_on();
    if object == 0 {
        return false;
    }
    #[cfg(loom)]
    let holder = 0;
    #[cfg(not(loom))]
    // SAFETY: a parked `MutexLock` G recorded its `Sema`, kept alive by its `acquire`: it
    // cannot resume while the step runs (one processor, on this thread; no retake).
    let holder = unsafe { crate::sync::sema::Sema::holder_at(object) } as usize;
    holder != 0 && stacks.iter().any(|r| r.contains(&holder))
}

/// The bubble the caller runs in.
fn current() -> Option<Arc<Sched>> {
    crate::scheduler::context::current_sched().filter(|s| s.bubble.get().is_some())
}

/// Runs `f` as the root green thread of a new bubble and returns its value, once every
/// green thread started inside has finished (Go 1.25's `synctest.Test`). Inside, time is
/// virtual: it starts when the bubble does and advances to the next timer only when every
/// green thread of the bubble is durably blocked (module docs), so a test that sleeps an
/// hour takes microseconds, and the same test gives the same schedule every run.
///
/// Panics (failing the test) if `f` panics, or at once with the bubble's dump when every
/// green thread in it is durably blocked with no timer left (a deadlock), or when green
/// threads it started can never finish; the message names the seed to replay it with
/// (`GORO_SEED`).
///
/// ```
/// use std::time::Duration;
/// use goro_runtime::{go, sleep, synctest};
///
/// let order = synctest::test(|| {
///     let (tx, rx) = std::sync::mpsc::channel();
///     for (name, secs) in [("slow", 30), ("fast", 10)] {
///         let tx = tx.clone();
///         go(move || {
///             sleep(Duration::from_secs(secs));
///             tx.send(name).unwrap();
///         });
///     }
///     sleep(Duration::from_secs(60));     // a minute of virtual time
///     synctest::wait();                    // both senders are done or durably blocked
///     rx.try_iter().collect::<Vec<_>>()
/// });
/// assert_eq!(order, ["fast", "slow"]);
/// ```
#[track_caller]
pub fn test<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let seed = seed_from_env().unwrap_or_else(fresh_seed);
    run_seeded(seed, f)
}

/// [`test`] with the given seed instead of a fresh one (or `GORO_SEED`): the same seed,
/// the same schedule. For replaying a failure from code, or checking that a schedule is
/// reproducible.
#[track_caller]
pub fn test_with_seed<T: Send + 'static>(seed: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    run_seeded(seed, f)
}

/// Runs `f` in a bubble once per seed, `runs` times (the seeds `GORO_SEED` plus 0, 1, …, or
/// 1, 2, … when it is unset): each run makes different random choices where goro makes
/// them (which ready `select!` case, which of the timers due together first), so a test
/// that passes under every seed holds whichever of those choices is made. The first failure
/// panics with its seed; `GORO_SEED=<seed>` with [`test`] replays it.
///
/// ```
/// use std::sync::Arc;
/// use goro_runtime::{go, sync::Mutex, synctest};
///
/// synctest::explore(20, || {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     let hs: Vec<_> = (0..3)
///         .map(|i| {
///             let log = log.clone();
///             go(move || log.lock().push(i))
///         })
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(log.lock().len(), 3); // whatever the order
/// });
/// ```
#[track_caller]
pub fn explore(runs: u64, f: impl Fn() + Send + Sync + 'static) {
    let f = Arc::new(f);
    let base = seed_from_env().unwrap_or(1);
    for i in 0..runs {
        let f = f.clone();
        run_seeded(base.wrapping_add(i), move || f());
    }
}

/// The seed of the bubble the caller runs in (`None` outside a bubble).
pub fn seed() -> Option<u64> {
    current().and_then(|s| s.bubble.get().map(|b| b.seed))
}

/// Blocks until every other green thread of the caller's bubble is durably blocked or
/// finished (Go's `synctest.Wait`): then whatever they were going to do without more time
/// passing is done. Time does not advance while it waits.
///
/// Panics outside a bubble, or if another green thread of the bubble is already waiting.
pub fn wait() {
    let sched = current().expect("goro::synctest::wait called outside a synctest bubble");
    let bubble = sched.bubble.get().expect("a bubble");
    bubble.park_waiter(false);
}

/// A seed for one bubble, from the real clock and a counter (tests run in parallel).
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = t ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 1_000_000_007 + 1
}

fn seed_from_env() -> Option<u64> {
    let v = std::env::var("GORO_SEED").ok()?;
    match v.trim().parse() {
        Ok(s) => Some(s),
        Err(_) => panic!("goro::synctest: GORO_SEED must be an unsigned integer, got {v:?}"),
    }
}

#[track_caller]
fn run_seeded<T: Send + 'static>(seed: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    if current().is_some() {
        panic!("goro::synctest::test called from inside a bubble (bubbles do not nest)");
    }
    let site = Location::caller();
    let rt = crate::Runtime::builder()
        .workers(1)
        .detect_deadlocks(true)
        .bubble(seed)
        .build()
        .unwrap_or_else(|e| panic!("goro::synctest: cannot start the bubble's runtime: {e}"));
    let root = move || {
        let v = f();
        // Go's Test: wait for the bubble's other green threads to finish.
        if let Some(sched) = current() {
            sched.bubble.get().expect("a bubble").park_waiter(true);
        }
        v
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| rt.block_on_outcome(root)));
    drop(rt); // unwinds whatever is left
    match outcome {
        Ok(Outcome::Value(v)) => v,
        Ok(Outcome::Panicked(p)) | Err(p) => {
            eprintln!(
                "goro::synctest: the test at {site} failed with seed {seed}; \
                 GORO_SEED={seed} replays its schedule"
            );
            resume_unwind(p)
        }
        Ok(Outcome::Deadlock(report)) => panic!("{report}"),
    }
}
