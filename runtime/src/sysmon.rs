//! sysmon: one monitor thread per runtime (Go's `sysmon`), doing what no worker can do
//! for itself because it may be busy, asleep, or stuck:
//!
//! * **coarse clock**: advances `Sched::clock`, so green-thread state timestamps (shown by
//!   `dump`) cost a load instead of a clock read;
//! * **network backstop**: if green threads wait on sockets and nobody has polled for
//!   10 ms (every worker busy running green threads), poll without blocking and inject
//!   the readied green threads (Go: "poll network if not polled for more than 10ms");
//! * **stuck workers**: a worker whose tick counter has not moved for 10 ms is inside one
//!   green thread that does not yield (a long computation, or a blocking call made
//!   without `goro::blocking`). Green threads are not preempted, but the stuck worker's
//!   queue is not stranded: sysmon wakes an idle worker, which steals it (after 1 ms
//!   already, if a worker is asleep: a small netpoll batch is not shared at once). With
//!   `Builder::warn_long_running` it also prints the green thread's id and spawn site;
//! * **deadlock detection** (Go's `checkdead`, when enabled): see [`Monitor`].
//!
//! sysmon sleeps 1 ms while it finds something to do and backs off to 10 ms when it does
//! not (Go: 20 µs to 10 ms), so an idle runtime costs ~100 wake-ups per second.
//!
//! # Deadlock detection
//! The runtime is *deadlocked* when every green thread is parked and nothing that could
//! wake one exists: every worker asleep, every run queue empty, no pending timer, no
//! green thread waiting on the netpoller, no `blocking` call in progress, and no OS thread
//! parked inside a goro call (it could send to a channel when it wakes). A worker state
//! can change between the reads, so the verdict needs the same observation — with no
//! scheduling progress in between (tick and spawn counters unchanged) — to hold for
//! `CONFIRM` (100 ms). The verdict is final: sysmon stores the report and unparks every
//! `block_on` caller watching this runtime, which panics with it.
//!
//! A verdict must be certain, so anything that *might* wake a green thread rules it out,
//! including an OS thread goro does not know: a `std::thread` that sleeps, computes, or
//! waits on a std channel before it sends is invisible to goro until it calls in. The
//! process's threads are counted (`/proc/self/task`) against the ones goro knows; one
//! more, and there is no verdict. Missing a deadlock is the accepted price: a program
//! with threads of its own hangs instead of being told (Go has no such threads to worry
//! about; a cgo thread there is the same blind spot).
//!
//! # Invariants
//! 1. The verdict is written once, under `state`, before the watchers are taken from the
//!    same lock: a watcher that registers afterwards sees the verdict (lost-wake-up free).
//! 2. A `block_on` caller parks uncounted (it is the party the report goes to, not a
//!    possible waker); every other OS thread parked in goro counts (`park::os_waiters`).
//! 3. Every OS thread in the process is one of the runtime's worker threads (with a
//!    processor, spare, or inside a `blocking` call, which `in_progress` rules out) or
//!    sysmon, the global timer thread (no timer pending) or a watching `block_on` caller;
//!    otherwise there is no verdict.
//!
//! # Lock order
//! `state` is a leaf: unparks happen after it is released.

use crate::lock::Mutex;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::g::Status;
use crate::park::thread::ThreadParker;
use crate::park::Unparker;
use crate::scheduler::Sched;

/// How long the deadlock observation must hold before the verdict.
const CONFIRM: Duration = Duration::from_millis(100);
/// Tick bounds (Go: 20 µs .. 10 ms).
const MIN_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_millis(10);
/// A worker whose tick counter stands still this long is stuck in one green thread
/// (Go's `forcePreemptNS`).
const STUCK_AFTER_MS: u64 = 10;
/// ... or this long, if its thread is blocked in the kernel (a system call: Go hands such
/// a processor off after 20 µs; sysmon ticks every millisecond while there is work).
const BLOCKED_AFTER_MS: u64 = 1;
/// Timer backstop: fire timers this overdue (no worker entered its scheduler meanwhile).
const TIMER_BACKSTOP: Duration = Duration::from_millis(2);
/// Network backstop: poll if nobody has for this long.
const NETPOLL_AFTER: Duration = Duration::from_millis(10);

/// The first line of a deadlock report (Go's wording).
pub const DEADLOCK_MESSAGE: &str = "fatal: all goroutines are asleep - deadlock!";

/// sysmon's configuration and the deadlock verdict, shared with the runtime.
#[derive(Debug)]
pub(crate) struct Monitor {
    detect_deadlocks: bool,
    /// Long-running green threads are reported past this (`None`: off).
    warn_after: Option<Duration>,
    /// sysmon sleeps here; shutdown unparks it.
    parker: ThreadParker,
    state: Mutex<MonitorState>,
}

#[derive(Debug, Default)]
struct MonitorState {
    verdict: Option<Arc<str>>,
    watchers: Vec<Unparker>,
}

impl Monitor {
    pub(crate) fn new(detect_deadlocks: bool, warn_after: Option<Duration>) -> Monitor {
        Monitor {
            detect_deadlocks,
            warn_after,
            parker: ThreadParker::new(),
            state: Mutex::new(MonitorState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MonitorState> {
        self.state.lock()
    }

    /// True if deadlocks are reported to `block_on` callers.
    pub(crate) fn detects_deadlocks(&self) -> bool {
        self.detect_deadlocks
    }

    /// Registers a `block_on` caller to be woken with the verdict; returns the verdict if
    /// it is already in (invariant 1).
    pub(crate) fn watch(&self, who: Unparker) -> Option<Arc<str>> {
        let mut st = self.state();
        if st.verdict.is_none() {
            st.watchers.push(who);
        }
        st.verdict.clone()
    }

    /// Drops a watcher that finished normally.
    pub(crate) fn unwatch(&self, who: &Unparker) {
        self.state().watchers.retain(|w| !w.will_wake(who));
    }

    /// `block_on` callers watching for the verdict (OS threads goro knows about).
    fn watchers(&self) -> usize {
        self.state().watchers.len()
    }

    pub(crate) fn verdict(&self) -> Option<Arc<str>> {
        self.state().verdict.clone()
    }

    /// Wakes sysmon to see the runtime shutting down (after `Sched::begin_shutdown`).
    pub(crate) fn stop(&self) {
        self.parker.unpark();
    }

    fn declare(&self, report: String) {
        let watchers = {
            let mut st = self.state();
            st.verdict = Some(report.into());
            std::mem::take(&mut st.watchers)
        };
        for w in watchers {
            w.unpark();
        }
    }
}

/// Starts sysmon for `sched`. It holds only a weak reference, and exits when the runtime
/// shuts down (`Monitor::stop`).
pub(crate) fn spawn(
    sched: &Arc<Sched>,
    monitor: Arc<Monitor>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let weak = Arc::downgrade(sched);
    std::thread::Builder::new()
        .name("goro-sysmon".into())
        .spawn(move || Sysmon::new(monitor).run(weak))
}

struct Sysmon {
    monitor: Arc<Monitor>,
    /// Per processor: (tick counter, coarse ms when it last changed).
    seen_ticks: Vec<(u64, u64)>,
    /// Green threads already named by the long-running warning (still running).
    warned: Vec<u64>,
    /// Netpoller poll count at the last check, and when it last changed.
    seen_polls: Option<(u64, Instant)>,
    /// Deadlock candidate: progress counter and when it was first seen quiescent.
    candidate: Option<(u64, Instant)>,
}

impl Sysmon {
    fn new(monitor: Arc<Monitor>) -> Sysmon {
        Sysmon {
            monitor,
            seen_ticks: Vec::new(),
            warned: Vec::new(),
            seen_polls: None,
            candidate: None,
        }
    }

    fn run(mut self, weak: Weak<Sched>) {
        let mut delay = MIN_DELAY;
        loop {
            let Some(sched) = weak.upgrade() else { return };
            if sched.is_shutdown() {
                return;
            }
            let busy = self.tick(&sched);
            delay = if busy {
                MIN_DELAY
            } else {
                (delay * 2).min(MAX_DELAY)
            };
            // Holding `sched` while asleep is fine: shutdown unparks us and joins us.
            self.monitor.parker.park_until(Some(Instant::now() + delay));
        }
    }

    /// One round. True if it found something to do (tick faster).
    fn tick(&mut self, sched: &Arc<Sched>) -> bool {
        let now_ms = sched.tick_clock();
        let now = Instant::now();
        let mut busy = self.netpoll_backstop(sched, now);
        busy |= self.retake(sched, now_ms);
        busy |= self.timer_backstop(sched, now);
        // Give the memory of freed stacks back to the kernel, a batch per tick.
        busy |= crate::stacks::release_free_stacks();
        // Free the green threads retired past the pool's bound, a batch per tick.
        busy |= sched.gpool.reap(&sched.registry);
        if self.monitor.detect_deadlocks && self.monitor.verdict().is_none() {
            self.check_deadlock(sched, now);
        }
        busy
    }

    /// Polls the network if green threads wait on it and nobody polled for a while.
    fn netpoll_backstop(&mut self, sched: &Sched, now: Instant) -> bool {
        let poller = &sched.poller;
        if !poller.has_waiters() || poller.is_polling() {
            // Nobody to find, or somebody is blocked in `epoll_wait` and will find them.
            self.seen_polls = None;
            return false;
        }
        let polls = poller.polls();
        match self.seen_polls {
            Some((p, since)) if p == polls && now.duration_since(since) >= NETPOLL_AFTER => {
                let found = poller.poll(Some(Duration::ZERO)).unwrap_or(0);
                self.seen_polls = Some((poller.polls(), now));
                found > 0
            }
            Some((p, _)) if p == polls => false,
            _ => {
                self.seen_polls = Some((polls, now));
                false
            }
        }
    }

    /// Spots workers stuck in one green thread for `STUCK_AFTER_MS` and hands their
    /// processors to other threads (`scheduler/handoff.rs`); without handoff, wakes a
    /// worker to steal their queued work.
    fn retake(&mut self, sched: &Arc<Sched>, now_ms: u64) -> bool {
        let n = sched.num_workers();
        self.seen_ticks.resize(n, (0, now_ms));
        let mut stuck = false;
        for i in 0..n {
            let r = &sched.remotes[i];
            // Progress: the owner left a green thread or touched its processor from one.
            let ticks = sched.procs[i].ownership.epoch();
            let (seen, since) = &mut self.seen_ticks[i];
            if *seen != ticks {
                (*seen, *since) = (ticks, now_ms);
                continue;
            }
            let stuck_ms = now_ms.saturating_sub(*since);
            let own = &sched.procs[i].ownership;
            if stuck_ms < BLOCKED_AFTER_MS || sched.idle.is_sleeping(i) {
                continue;
            }
            if stuck_ms < STUCK_AFTER_MS && (!r.stealer.is_empty() || !r.runnext.is_empty()) {
                // Green threads queued behind one that has run for a millisecond: wake an
                // idle worker to steal them (a small netpoll batch is not shared at once,
                // `worker::NETPOLL_SHARE`; a spawn or wake-up would have woken one).
                sched.wake_idle_worker();
            }
            if stuck_ms < STUCK_AFTER_MS
                && !(sched.handoff && own.in_g() && blocked_in_kernel(&r.tid))
            {
                continue;
            }
            // Stuck in one green thread (or its worker is between loops for 10 ms, which
            // only happens when it is descheduled: then nothing is handed off).
            if sched.handoff && own.in_g() {
                if hand_off(sched, i, ticks) {
                    self.seen_ticks[i].1 = now_ms; // the new owner gets a fresh 10 ms
                }
                stuck = true;
            } else if !r.stealer.is_empty() || !r.runnext.is_empty() {
                sched.wake_idle_worker();
                stuck = true;
            }
        }
        let lost = sched
            .lost_running
            .load(std::sync::atomic::Ordering::Acquire)
            > 0;
        if let (Some(limit), true) = (self.monitor.warn_after, stuck || lost) {
            warn_long_running(sched, limit, &mut self.warned);
        }
        stuck
    }

    /// Fires timers overdue by `TIMER_BACKSTOP` that no worker got to (every one busy or
    /// stuck), as Go's sysmon does: their green threads are queued globally.
    fn timer_backstop(&self, sched: &Sched, now: Instant) -> bool {
        let timers = &sched.timers;
        let overdue = now.checked_sub(TIMER_BACKSTOP);
        if timers.is_pending_relaxed() && overdue.is_some_and(|t| timers.is_due(t)) {
            timers.fire_due(now);
            return true;
        }
        false
    }

    fn check_deadlock(&mut self, sched: &Sched, now: Instant) {
        if !is_quiescent(sched, &self.monitor) {
            self.candidate = None;
            return;
        }
        let progress = progress(sched);
        match self.candidate {
            Some((p, since)) if p == progress => {
                if now.duration_since(since) >= CONFIRM && is_quiescent(sched, &self.monitor) {
                    let report = format!(
                        "{DEADLOCK_MESSAGE}\n\n{}",
                        crate::diag::dump::dump_runtime(sched)
                    );
                    self.monitor.declare(report);
                }
            }
            _ => self.candidate = Some((progress, now)),
        }
    }
}

/// Gives processor `i`, whose worker has been inside one green thread since the processor
/// counted `ticks` switches, to a spare (started if none is idle and the budget allows).
/// True if it was handed off.
fn hand_off(sched: &Arc<Sched>, i: usize, ticks: u64) -> bool {
    let spare = match sched.spares.take() {
        Some(spare) => spare,
        None => match crate::scheduler::worker::spawn_spare(sched) {
            Ok(spare) => spare,
            Err(_) => return false, // the budget (warned once) or the OS refused a thread
        },
    };
    let own = &sched.procs[i].ownership;
    let still_stuck = || own.epoch() == ticks;
    if own.revoke(still_stuck) {
        sched
            .lost_running
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        sched
            .handoffs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        spare.assign(i);
        true
    } else {
        sched.spares.put(spare);
        false
    }
}

/// Every worker asleep, no runnable G, and no possible waker (module docs).
fn is_quiescent(sched: &Sched, monitor: &Monitor) -> bool {
    let (_, sleeping) = sched.idle.counts();
    sleeping == sched.num_workers()
        && sched.live() > 0
        && sched
            .lost_running
            .load(std::sync::atomic::Ordering::Acquire)
            == 0
        && sched.injector.is_empty()
        && sched
            .remotes
            .iter()
            .all(|r| r.stealer.is_empty() && r.runnext.is_empty())
        && sched.timers.next_deadline().is_none()
        && !sched.poller.has_waiters()
        && crate::blocking::in_progress() == 0
        && crate::park::os_waiters() == 0
        && !crate::timer::global_thread().1
        && only_known_threads(sched, monitor)
}

/// True if every OS thread of the process is one goro knows cannot wake a green thread
/// of `shared` now: its workers (spares and threads inside `blocking` calls included) and
/// sysmon, the global timer
/// thread, and the `block_on` callers watching for the verdict. Any other thread — the
/// user's, another runtime's, a test harness's — might hold a channel end or a lock and
/// send or unlock later, so its presence rules out a verdict (invariant 3).
fn only_known_threads(sched: &Sched, monitor: &Monitor) -> bool {
    let known = sched.spares.threads() // workers, spares and workers that lost their processor
        + 1 // sysmon
        + usize::from(crate::timer::global_thread().0)
        + monitor.watchers();
    process_threads().is_some_and(|n| n <= known)
}

/// True if the thread whose id is in `tid` sleeps in the kernel (`S` or `D` in
/// `/proc/self/task/<tid>/stat`): a worker blocked in a system call, not computing.
fn blocked_in_kernel(tid: &std::sync::atomic::AtomicI32) -> bool {
    let tid = tid.load(std::sync::atomic::Ordering::Relaxed);
    let Ok(stat) = std::fs::read(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // `pid (comm) state ...`: the state follows the last ')' (comm may hold one).
    let after = stat
        .iter()
        .rposition(|&b| b == b')')
        .map_or(&[][..], |i| &stat[i + 1..]);
    matches!(
        after.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'S' | b'D')
    )
}

/// The number of OS threads in this process (`None` if `/proc` cannot tell).
fn process_threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Changes whenever any green thread runs or is spawned.
fn progress(sched: &Sched) -> u64 {
    let ticks: u64 = sched
        .remotes
        .iter()
        .map(|r| r.ticks.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    ticks.wrapping_add(sched.started())
}

/// Prints every green thread that has been running longer than `limit`; true if any.
fn warn_long_running(sched: &Sched, limit: Duration, warned: &mut Vec<u64>) {
    let now = sched.coarse_now();
    let limit_ms = limit.as_millis() as u64;
    let mut still = Vec::new();
    for g in sched.registry.snapshot() {
        if g.diag.status() == Status::Running && now.saturating_sub(g.diag.since()) >= limit_ms {
            still.push(g.id());
            if warned.contains(&g.id()) {
                continue;
            }
            let site = g
                .spawn_site()
                .map_or_else(|| "?".to_string(), |l| l.to_string());
            eprintln!(
                "goro: green thread {} (spawned at {site}) has run for {} ms without \
                 yielding; it occupies an OS thread meanwhile (its processor is handed to \
                 another thread after 10 ms). Move blocking calls into goro::blocking and \
                 call goro::yield_now in long loops.",
                g.id(),
                now.saturating_sub(g.diag.since())
            );
        }
    }
    *warned = still; // each green thread is named once per stretch of running
}
