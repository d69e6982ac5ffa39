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
use crate::park::Unparker;
use crate::primitives::thread_parker::ThreadParker;
use crate::scheduler::Sched;

/// How long the deadlock observation must hold before the verdict.
const CONFIRM: Duration = Duration::from_millis(100);
/// Tick bounds (Go: 20 µs .. 10 ms).
const MIN_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_millis(10);
/// While a processor is held by a thread blocked in the kernel, or was just handed off,
/// sysmon ticks this often (Go's sysmon starts at 20 µs): a burst of green threads that
/// each block their thread in a `std` call is handed off at this pace, not one processor
/// per millisecond.
const URGENT_DELAY: Duration = Duration::from_micros(50);
/// A worker whose switch counter stands still this long is stuck in one green thread
/// (Go's `forcePreemptNS`).
const STUCK_AFTER: Duration = Duration::from_millis(10);
/// ... or this long, if its thread is blocked in the kernel (a system call: Go hands such
/// a processor off when it sees it in the same call at two rounds in a row, 20 µs apart at
/// the least). With green threads queued behind the call: at first sight (`retake`).
const BLOCKED_AFTER: Duration = Duration::from_micros(40);
/// Green threads queued behind one that has run this long are offered to an idle worker.
const SHARE_AFTER: Duration = Duration::from_millis(1);
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
    /// A "possible deadlock" report is printed once every green thread has been parked
    /// this long while something outside the runtime rules a verdict out (`None`: off).
    possible_after: Option<Duration>,
    /// Long-running green threads are reported past this (`None`: off).
    warn_after: Option<Duration>,
    /// Stacks of green threads parked longer than this are compacted
    /// (`stacks/compact.rs`; `None`: off).
    compact_after: Option<Duration>,
    /// sysmon sleeps here; shutdown unparks it.
    parker: ThreadParker,
    state: Mutex<MonitorState>,
}

#[derive(Debug, Default)]
struct MonitorState {
    verdict: Option<Arc<str>>,
    /// `block_on` callers, with their OS thread ids.
    watchers: Vec<(Unparker, libc::pid_t)>,
}

impl Monitor {
    pub(crate) fn new(
        detect_deadlocks: bool,
        possible_after: Option<Duration>,
        warn_after: Option<Duration>,
    ) -> Monitor {
        Monitor {
            detect_deadlocks,
            possible_after: possible_after.filter(|d| !d.is_zero()),
            warn_after,
            compact_after: None,
            parker: ThreadParker::new(),
            state: Mutex::new(MonitorState::default()),
        }
    }

    /// Compacts the stacks of green threads parked longer than `after`
    /// (`Builder::compact_parked_stacks`).
    pub(crate) fn with_compaction(mut self, after: Option<Duration>) -> Monitor {
        self.compact_after = after;
        self
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
    /// Called on the `block_on` caller's own thread.
    pub(crate) fn watch(&self, who: Unparker) -> Option<Arc<str>> {
        let mut st = self.state();
        if st.verdict.is_none() {
            st.watchers.push((who, current_tid()));
        }
        st.verdict.clone()
    }

    /// Drops a watcher that finished normally.
    pub(crate) fn unwatch(&self, who: &Unparker) {
        self.state().watchers.retain(|(w, _)| !w.will_wake(who));
    }

    /// The OS thread ids of the `block_on` callers watching for the verdict (threads goro
    /// knows about).
    fn watcher_tids(&self) -> Vec<libc::pid_t> {
        self.state().watchers.iter().map(|&(_, tid)| tid).collect()
    }

    pub(crate) fn verdict(&self) -> Option<Arc<str>> {
        self.state().verdict.clone()
    }

    /// Wakes sysmon to see the runtime shutting down (after `Sched::begin_shutdown`).
    pub(crate) fn stop(&self) {
        self.parker.unpark();
    }

    pub(crate) fn declare(&self, report: String) {
        let watchers = {
            let mut st = self.state();
            st.verdict = Some(report.into());
            std::mem::take(&mut st.watchers)
        };
        for (w, _) in watchers {
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
        .spawn(move || {
            precise_sleeps();
            Sysmon::new(monitor).run(weak)
        })
}

/// Waits `d` without leaving the run queue (yielding the CPU meanwhile): on a busy
/// machine a timed sleep of 50 µs ends hundreds of microseconds late, once the woken
/// thread gets a CPU again, and sysmon's pace in a burst of handoffs is the pace of the
/// handoffs.
fn pause_runnable(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::thread::yield_now();
    }
}

/// sysmon's 50 µs sleeps mean 50 µs: the default timer slack (50 µs) would double them.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only this thread's slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
}

/// How soon sysmon's next round should come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pace {
    /// Nothing to do: back off towards `MAX_DELAY`.
    Idle,
    /// Something was done: `MIN_DELAY`.
    Busy,
    /// A processor is held by a blocked thread, or was just handed off: `URGENT_DELAY`.
    Urgent,
}

struct Sysmon {
    monitor: Arc<Monitor>,
    /// Per processor: (its owner's switch counter, when it last changed).
    seen_ticks: Vec<(u64, Instant)>,
    /// Worker threads' `stat` files.
    stats: ThreadStats,
    /// This round's processors to hand off: (index, owner's switch count when seen,
    /// whether the next owner starts a handoff chain, `scheduler/chain.rs`).
    stuck: Vec<(usize, u64, bool)>,
    /// Green threads already named by the long-running warning (still running).
    warned: Vec<u64>,
    /// Netpoller poll count at the last check, and when it last changed.
    seen_polls: Option<(u64, Instant)>,
    /// Deadlock candidate: progress counter and when it was first seen quiescent.
    candidate: Option<(u64, Instant)>,
    /// Quiescent inside while something outside could wake a green thread: progress
    /// counter, since when, and whether the "possible deadlock" report was printed.
    stalled: Option<(u64, Instant, bool)>,
    /// Compaction of long-parked stacks, if on.
    #[cfg(not(loom))]
    compactor: Option<crate::stacks::compact::Compactor>,
}

impl Sysmon {
    fn new(monitor: Arc<Monitor>) -> Sysmon {
        Sysmon {
            #[cfg(not(loom))]
            compactor: monitor
                .compact_after
                .map(crate::stacks::compact::Compactor::new),
            monitor,
            seen_ticks: Vec::new(),
            stats: ThreadStats::default(),
            stuck: Vec::new(),
            warned: Vec::new(),
            seen_polls: None,
            candidate: None,
            stalled: None,
        }
    }

    fn run(mut self, weak: Weak<Sched>) {
        let mut delay = MIN_DELAY;
        loop {
            let Some(sched) = weak.upgrade() else { return };
            if sched.is_shutdown() {
                return;
            }
            let pace = self.tick(&sched);
            delay = match pace {
                Pace::Urgent => URGENT_DELAY,
                Pace::Busy => MIN_DELAY,
                Pace::Idle => (delay * 2).clamp(MIN_DELAY, MAX_DELAY),
            };
            // Holding `sched` while asleep is fine: shutdown unparks us and joins us.
            if pace == Pace::Urgent {
                pause_runnable(delay);
            } else {
                self.monitor.parker.park_until(Some(Instant::now() + delay));
            }
        }
    }

    /// One round; how soon the next should come.
    fn tick(&mut self, sched: &Arc<Sched>) -> Pace {
        sched.tick_clock();
        let now = Instant::now();
        let retake = self.retake(sched, now);
        let mut busy = retake != Pace::Idle;
        busy |= self.netpoll_backstop(sched, now);
        busy |= self.timer_backstop(sched, now);
        // Give the memory of freed stacks back to the kernel, a batch per tick.
        let released = crate::stacks::release_free_stacks();
        // Free the green threads retired past the pool's bound, a batch per tick.
        let reaped = sched.gpool.reap(&sched.registry);
        if (released || reaped) && crate::diag::trace::on() {
            let gc = crate::diag::trace::Kind::StackGc;
            crate::diag::trace::record(gc, 0, u64::from(released) | u64::from(reaped) << 1);
        }
        busy |= released | reaped;
        // Compact long-parked stacks, a batch per tick.
        #[cfg(not(loom))]
        if let Some(c) = &mut self.compactor {
            busy |= c.round(sched);
        }
        if self.monitor.detect_deadlocks && self.monitor.verdict().is_none() {
            self.check_deadlock(sched, now);
        }
        match retake {
            Pace::Urgent => Pace::Urgent,
            _ if busy => Pace::Busy,
            _ => Pace::Idle,
        }
    }

    /// Polls the network if green threads wait on it and nobody polled for a while.
    fn netpoll_backstop(&mut self, sched: &Sched, now: Instant) -> bool {
        let poller = &sched.driver.poller;
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

    /// Looks at every processor once and hands off each one whose worker is blocked in
    /// the kernel inside a green thread (after `BLOCKED_AFTER`) or has been inside one
    /// green thread for `STUCK_AFTER` (`scheduler/handoff.rs`); without handoff, wakes a
    /// worker to steal their queued work. `Urgent` after a round that handed a processor
    /// off (its new owner may block right away), `Busy` while one is held by a blocked or
    /// stuck thread.
    fn retake(&mut self, sched: &Arc<Sched>, now: Instant) -> Pace {
        let n = sched.num_processors();
        self.seen_ticks.resize(n, (0, now));
        let mut pace = Pace::Idle;
        // A synctest bubble's processor is never retaken: its green threads run one at a
        // time on one thread, in an order the program fixes (`synctest.rs`).
        let retake = sched.handoff && sched.bubble.get().is_none();
        for i in 0..n {
            let own = &sched.procs[i].ownership;
            // Progress: the owner left a green thread or touched its processor from one.
            let epoch = own.epoch();
            let (seen, since) = &mut self.seen_ticks[i];
            let first_sight = *seen != epoch;
            if first_sight {
                (*seen, *since) = (epoch, now);
            }
            let stuck_for = now.duration_since(*since);
            if sched.idle.is_sleeping(i) {
                continue;
            }
            let r = &sched.remotes[i];
            let queued = !r.stealer.is_empty() || !r.runnext.is_empty();
            let in_g = own.in_g();
            let sleep = if retake && in_g && (first_sight || stuck_for >= BLOCKED_AFTER) {
                self.stats.sleep_of(&r.tid)
            } else {
                Sleep::None
            };
            let blocked = sleep != Sleep::None;
            if blocked && first_sight && (!queued || sleep == Sleep::Uninterruptible) {
                // Go retakes a processor seen in the same system call at two rounds in a
                // row: look again within a millisecond. One whose queue waits behind the
                // call is taken at first sight — a burst of green threads that each block
                // in a `std` call is handed off one per round, not one per two — unless
                // the sleep is uninterruptible (`D`): the kernel's own short waits (a page
                // fault, the fd table growing past a power of two, which waits for an RCU
                // grace period) end by themselves, and a thread per such wait is waste.
                pace = pace.max(Pace::Busy);
                continue;
            }
            if blocked || stuck_for >= STUCK_AFTER {
                // Blocked in a call, or stuck in one green thread (or its worker is between
                // loops for 10 ms, which only happens when it is descheduled: then nothing
                // is handed off).
                pace = pace.max(Pace::Busy);
                if retake && in_g {
                    // Blocked with work queued behind: the next owner starts a chain.
                    self.stuck.push((i, epoch, blocked && queued));
                } else if queued {
                    sched.wake_idle_worker();
                }
            } else if stuck_for >= SHARE_AFTER && queued {
                // Green threads queued behind one that has run for a millisecond: wake an
                // idle worker to steal them (a small netpoll batch is not shared at once,
                // `worker::NETPOLL_SHARE`; a spawn or wake-up would have woken one).
                sched.wake_idle_worker();
            }
        }
        if !self.stuck.is_empty() {
            // Only a handoff that happened makes the pace urgent: at the thread budget
            // sysmon must not spin.
            if hand_off(sched, &self.stuck) > 0 {
                pace = Pace::Urgent;
            }
            for &(i, _, _) in &self.stuck {
                self.seen_ticks[i].0 = u64::MAX; // the next owner is new: a first sight
            }
            self.stuck.clear();
        }
        let lost = sched
            .lost_running
            .load(std::sync::atomic::Ordering::Acquire)
            > 0;
        if let (Some(limit), true) = (self.monitor.warn_after, pace != Pace::Idle || lost) {
            warn_long_running(sched, limit, &mut self.warned);
        }
        pace
    }

    /// Fires timers overdue by `TIMER_BACKSTOP` that no worker got to (every one busy or
    /// stuck), as Go's sysmon does: their green threads are queued globally.
    fn timer_backstop(&self, sched: &Sched, now: Instant) -> bool {
        if sched.bubble.get().is_some() {
            return false; // virtual time: the bubble fires its own timers
        }
        let timers = &sched.driver.timers;
        let overdue = now.checked_sub(TIMER_BACKSTOP);
        if timers.is_pending_relaxed() && overdue.is_some_and(|t| timers.is_due(t)) {
            timers.fire_due(now);
            return true;
        }
        false
    }

    fn check_deadlock(&mut self, sched: &Sched, now: Instant) {
        if !is_quiescent(sched) {
            self.candidate = None;
            self.stalled = None;
            return;
        }
        let progress = progress(sched);
        let outside = outside_wakers(sched, &self.monitor);
        if !outside.is_empty() {
            self.candidate = None;
            self.possible_deadlock(sched, progress, now, &outside);
            return;
        }
        self.stalled = None;
        match self.candidate {
            Some((p, since)) if p == progress => {
                if now.duration_since(since) >= CONFIRM
                    && is_quiescent(sched)
                    && outside_wakers(sched, &self.monitor).is_empty()
                {
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

    /// Every green thread has been parked, with no progress, while `outside` could still
    /// wake one: after `possible_after`, prints one report (per stretch without progress)
    /// and goes on. Never a verdict: a thread goro does not know may yet send.
    fn possible_deadlock(
        &mut self,
        sched: &Sched,
        progress: u64,
        now: Instant,
        outside: &[String],
    ) {
        let Some(after) = self.monitor.possible_after else {
            return;
        };
        match &mut self.stalled {
            Some((p, since, reported)) if *p == progress => {
                if !*reported && now.duration_since(*since) >= after {
                    *reported = true;
                    eprintln!(
                        "{}",
                        possible_deadlock_report(sched, now.duration_since(*since), outside)
                    );
                }
            }
            _ => self.stalled = Some((progress, now, false)),
        }
    }
}

/// The "possible deadlock" report: why it is not a verdict, what could still wake a green
/// thread, and the dump.
fn possible_deadlock_report(sched: &Sched, parked_for: Duration, outside: &[String]) -> String {
    let mut report = format!(
        "goro: possible deadlock: every green thread has been parked for {:.1} s and none \
         can be woken from inside the runtime; goro cannot be certain (so this is no \
         verdict, and the program goes on), because something outside it could still wake \
         one:\n",
        parked_for.as_secs_f64()
    );
    for w in outside {
        report.push_str("  - ");
        report.push_str(w);
        report.push('\n');
    }
    report.push('\n');
    report.push_str(&crate::diag::dump::dump_runtime(sched));
    report
}

/// Gives each processor `i` of `stuck`, whose owner has been inside one green thread since
/// it counted `epoch` switches, to a spare (started if none is idle and the budget
/// allows), with one barrier for all of them, starting a handoff chain on it if `chain`.
/// Returns how many were handed off.
fn hand_off(sched: &Arc<Sched>, stuck: &[(usize, u64, bool)]) -> usize {
    use std::sync::atomic::Ordering;
    let mut marked = Vec::with_capacity(stuck.len());
    for &(i, epoch, chain) in stuck {
        let Ok(spare) = crate::scheduler::worker::idle_or_new_spare(sched) else {
            break; // the budget (warned once) or the OS refused a thread
        };
        match sched.procs[i].ownership.begin_revoke() {
            Some(owner) => marked.push((i, epoch, owner, spare, chain)),
            None => sched.spares.put(spare),
        }
    }
    if marked.is_empty() {
        return 0;
    }
    crate::scheduler::handoff::revoke_barrier();
    let mut given = 0;
    for (i, epoch, owner, spare, chain) in marked {
        let own = &sched.procs[i].ownership;
        if own.end_revoke(owner, || own.epoch() == epoch) {
            sched.lost_running.fetch_add(1, Ordering::AcqRel);
            sched.handoffs.fetch_add(1, Ordering::Relaxed);
            if crate::diag::trace::on() {
                crate::diag::trace::record(crate::diag::trace::Kind::Handoff, 0, i as u64);
            }
            if chain {
                crate::scheduler::chain::start(&sched.remotes[i].chain);
            }
            spare.assign(i);
            given += 1;
        } else {
            sched.spares.put(spare);
        }
    }
    given
}

/// Every worker asleep, no runnable G, and nothing inside the runtime that could wake one:
/// no pending timer, no green thread on the netpoller, no `blocking` call in progress, no
/// worker inside a green thread after a handoff (module docs).
fn is_quiescent(sched: &Sched) -> bool {
    let (_, sleeping) = sched.idle.counts();
    sleeping == sched.num_processors()
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
        && sched.driver.timers.next_deadline().is_none()
        && !sched.driver.poller.has_waiters()
        && crate::blocking::in_progress() == 0
}

/// What outside the runtime could still wake one of its green threads, described for the
/// "possible deadlock" report; empty if nothing (invariant 3): an OS thread parked in a
/// goro call, a timer on the global timer thread, signals being watched, or an OS thread
/// goro does not know — the user's, another runtime's, a test harness's, a library's pool
/// — which might hold a channel end or a lock and send or unlock later.
fn outside_wakers(sched: &Sched, monitor: &Monitor) -> Vec<String> {
    let mut outside = Vec::new();
    let parked = crate::park::os_waiters();
    if parked > 0 {
        outside.push(format!(
            "{parked} OS thread(s) parked in a goro call (a channel or sync operation made \
             outside any green thread)"
        ));
    }
    let futures = crate::future::parked_in_block_on();
    if futures > 0 {
        outside.push(format!(
            "{futures} green thread(s) parked in goro::block_on: a future's waker can be \
             called from any thread"
        ));
    }
    #[cfg(all(feature = "tokio", not(loom)))]
    {
        let tasks = crate::future::tokio::hosted_tasks();
        if tasks > 0 {
            outside.push(format!(
                "goro-tokio: {tasks} task(s) alive on the hosted tokio runtime"
            ));
        }
    }
    if crate::driver::global_thread().1 {
        outside
            .push("a timer on goro's global timer thread (armed outside any green thread)".into());
    }
    let watched = helpers::signal_watches();
    if watched > 0 {
        outside.push(format!(
            "goro-signal: {watched} signal(s) watched (goro::signal::notify): a signal from \
             outside would be delivered to a channel"
        ));
    }
    let known = sched.spares.threads() // workers, spares and workers that lost their processor
        + 1 // sysmon
        + usize::from(crate::driver::global_thread().0)
        + helpers::threads()
        + monitor.watcher_tids().len();
    match process_threads() {
        Some(n) if n <= known => {}
        Some(n) => {
            // Counted, not named: a thread started from a worker inherits its name.
            outside.push(format!(
                "{} OS thread(s) goro does not know, which could send or unlock later",
                n - known
            ));
            outside.extend(
                unknown_threads(monitor)
                    .into_iter()
                    .map(|(tid, name)| format!("OS thread {tid} \"{name}\", not goro's")),
            );
        }
        None => outside.push("the process's threads cannot be counted (/proc)".into()),
    }
    outside
}

/// The process's threads that are neither named as goro's (`goro-…`) nor a watching
/// `block_on` caller, from `/proc/self/task/*/comm` (a thread started from a worker and
/// never renamed carries the worker's name: it is counted, but not listed here).
fn unknown_threads(monitor: &Monitor) -> Vec<(libc::pid_t, String)> {
    let watchers = monitor.watcher_tids();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut found: Vec<_> = tasks
        .flatten()
        .filter_map(|t| {
            let tid: libc::pid_t = t.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let name = name.trim_end().to_string();
            (!watchers.contains(&tid) && !name.starts_with("goro-")).then_some((tid, name))
        })
        .collect();
    found.sort();
    found
}

/// The calling thread's OS id.
fn current_tid() -> libc::pid_t {
    // SAFETY: gettid(2) has no preconditions (the raw syscall: glibc before 2.30 has no
    // wrapper).
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// goro's threads outside any runtime that sysmon must count as known, and what they
/// watch: the signal dispatcher of goro-chan (`goro::signal`), which delivers signals to
/// channels. Process-wide, like the threads.
pub mod helpers {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    static THREADS: AtomicUsize = AtomicUsize::new(0);
    static SIGNAL_WATCHES: OnceLock<fn() -> usize> = OnceLock::new();

    /// A helper thread of goro's started (it lives as long as the process).
    pub fn thread_started() {
        THREADS.fetch_add(1, Ordering::AcqRel);
    }

    /// Names the function that counts the signals delivered to a live channel now (the
    /// signal dispatcher's; set once).
    pub fn count_signal_watches_with(count: fn() -> usize) {
        let _ = SIGNAL_WATCHES.set(count);
    }

    pub(super) fn threads() -> usize {
        THREADS.load(Ordering::Acquire)
    }

    pub(super) fn signal_watches() -> usize {
        SIGNAL_WATCHES.get().map_or(0, |count| count())
    }
}

/// How a worker thread sleeps in the kernel, from its `stat` state letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sleep {
    /// Running or runnable (`R`), or not known.
    None,
    /// `S`: a system call that waits for something outside the thread (a socket, a futex,
    /// a timer) for as long as that takes.
    Interruptible,
    /// `D`: the kernel's own wait (a page fault, an RCU grace period, disk I/O), usually
    /// short.
    Uninterruptible,
}

/// Worker threads' `/proc/self/task/<tid>/stat` files, kept open by thread id: sysmon
/// reads one every round while a worker is inside one green thread, and a re-read of an
/// open file costs half an open, read and close. Spares are reused, so in a burst of
/// handoffs most threads are found here.
#[derive(Default)]
struct ThreadStats {
    open: std::collections::HashMap<libc::pid_t, std::fs::File>,
}

/// Open stat files kept at most (past it, the cache starts over).
const STAT_FILES_MAX: usize = 128;

impl ThreadStats {
    /// How the thread whose id is in `tid` sleeps in the kernel (`S` or `D`: a worker
    /// blocked in a system call, not computing), if it does.
    fn sleep_of(&mut self, tid: &std::sync::atomic::AtomicI32) -> Sleep {
        use std::os::unix::fs::FileExt;
        let tid = tid.load(std::sync::atomic::Ordering::Relaxed);
        if !self.open.contains_key(&tid) {
            if self.open.len() >= STAT_FILES_MAX {
                self.open.clear();
            }
            let Ok(file) = std::fs::File::open(format!("/proc/self/task/{tid}/stat")) else {
                return Sleep::None;
            };
            self.open.insert(tid, file);
        }
        let mut buf = [0u8; 512];
        let n = match self.open[&tid].read_at(&mut buf, 0) {
            Ok(n) => n,
            Err(_) => {
                self.open.remove(&tid); // the thread exited (its id may come back)
                return Sleep::None;
            }
        };
        let stat = &buf[..n];
        // `pid (comm) state ...`: the state follows the last ')' (comm may hold one).
        let after = stat
            .iter()
            .rposition(|&b| b == b')')
            .map_or(&[][..], |i| &stat[i + 1..]);
        match after.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'S') => Sleep::Interruptible,
            Some(b'D') => Sleep::Uninterruptible,
            _ => Sleep::None,
        }
    }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;

    /// A thread blocked reading a pipe reads as `S` (taken at first sight when work waits
    /// behind it); the thread asking is running.
    #[test]
    fn a_thread_blocked_in_a_read_sleeps_interruptibly_and_a_running_one_not_at_all() {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) writes two descriptors into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let tid = Arc::new(AtomicI32::new(0));
        let t = tid.clone();
        let reader = std::thread::spawn(move || {
            t.store(current_tid(), std::sync::atomic::Ordering::Relaxed);
            let mut b = [0u8; 1];
            // SAFETY: reads one byte into a live buffer from a descriptor this test owns.
            unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) }
        });
        let mut stats = ThreadStats::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.sleep_of(&tid) != Sleep::Interruptible {
            assert!(
                Instant::now() < deadline,
                "the reader never slept in read(2)"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let me = AtomicI32::new(current_tid());
        assert_eq!(stats.sleep_of(&me), Sleep::None);
        // SAFETY: writes one byte from a live buffer to the pipe this test owns.
        assert_eq!(unsafe { libc::write(fds[1], [7u8].as_ptr().cast(), 1) }, 1);
        assert_eq!(reader.join().unwrap(), 1);
        // SAFETY: both descriptors are this test's and closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
