//! The scheduler: Go's G/M/P model.
//!
//! # Glossary (Go's names in parentheses)
//! * **green thread** (`G`, [`crate::g::G`]): a coroutine with its own stack.
//! * **worker** (`M`, [`worker::WorkerCtx`]): an OS thread that runs green threads.
//! * **processor** (`P`, [`processor::Processor`]): the right to run green threads, with a
//!   local run queue, a `runnext` slot, a stack cache and an RNG. There are `workers` of
//!   them (GOMAXPROCS). A worker owns one at a time; when it stays inside one green thread
//!   too long (a blocking call, a long computation), sysmon hands its processor, queue and
//!   all, to a spare thread (`handoff.rs`, `spares.rs`).
//!
//! # Where a runnable G can be
//! In exactly one of: a processor's `runnext` slot, a processor's local queue (bounded at
//! 256, overflow moves half to the global queue, as Go's `runqputslow`), or the global
//! [`Injector`] (Gs readied from outside the runtime, overflow, and Gs from spawns made
//! from OS threads).
//!
//! # Finding work (`worker::WorkerCtx::find_runnable`, Go's `findRunnable`)
//! due timers → every 61st round one G from the global queue (fairness: two Gs respawning
//! each other cannot starve it) → `runnext` (at most 16 rounds in a row, then the queue
//! gets a turn) → local queue → a batch from the global queue → *searching*: steal half of
//! a random victim's queue → a few more rounds of that (spinning) → a victim's `runnext`
//! that stayed put for ~3 µs → sleep. The
//! spinning/idle protocol that decides who sleeps and who gets woken is in `primitives/idle.rs`.
//!
//! # Invariants
//! 1. A runnable G is in exactly one place (above), and a G in a queue is referenced by
//!    that queue: whoever takes it out owns its execution until it parks, yields or ends
//!    (the park protocol's invariant 2 guarantees one requeue per park).
//! 2. A processor's local queue is pushed and popped only by its own worker; other workers
//!    only steal from it (`Remote::stealer`) or take its `runnext` (`RunNext`, after ~3 µs).
//! 3. Workers and counters: `Remote`'s counters are written only by the processor's own
//!    worker (plain load + store, no RMW); readers (sysmon, `metrics`) tolerate staleness.
//! 4. No ready G is left behind while every worker sleeps: a submitter that sees no
//!    searching worker wakes one (`wake_idle_worker`) — a netpoll batch's submitter is
//!    the worker that polled, which runs the batch itself — and the last searcher to sleep
//!    re-checks every queue after a `SeqCst` fence (`wake_if_work_pending`, paired with
//!    `Idle::should_wake`; see `primitives/idle.rs`).
//! 5. At most one sleeping worker is the timekeeper (`timekeeper`, a CAS from
//!    `NO_TIMEKEEPER`); a timer that becomes the earliest re-arms it or wakes a worker
//!    (`timer_inserted`, a Dekker pair with `Timers::next_deadline`).
//!
//! # Lock order
//! `Idle`'s sleeper list, the registry's shards, the `GPool` and the timer heap are leaf
//! locks: none is held while taking another, parking or unparking.
//!
//! # Waking workers
//! Readying work that another worker could run (a push to a local queue, the global queue)
//! wakes a sleeping worker only if nobody is searching. Putting a G in `runnext` wakes
//! nobody (tokio's LIFO-slot rule): the G runs next here, and waking a worker to watch it
//! would cost a futex round trip per channel hand-off. Green threads readied by a netpoll
//! batch wake nobody one by one; the poller wakes one worker afterwards if the batch left
//! `NETPOLL_SHARE` or more queued (`worker.rs`), and sysmon wakes one for a queue that
//! waits behind a long-running green thread (`sysmon::retake`).

pub(crate) mod chain;
pub(crate) mod context;
pub(crate) mod gpool;
pub(crate) mod handoff;
mod locked;
pub(crate) mod processor;
pub(crate) mod registry;
pub(crate) mod runnext;
pub(crate) mod spares;
pub(crate) mod syscall;
pub(crate) mod worker;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_deque::{Injector, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;

use crate::diag::latency::{ClockOrigin, Histogram};
use crate::driver::Driver;
use crate::g::{GRef, Schedule};
use crate::primitives::idle::Idle;
use crate::primitives::thread_parker::ThreadParker;
use crate::timer::TimerWaker;
use gpool::GPool;
use handoff::FIRST_TOKEN;
use processor::Processor;
use registry::Registry;
use runnext::RunNext;
use spares::SparePool;

/// The parts of a processor other workers touch: its queue's stealing end, its `runnext`
/// slot, and the sleeper its worker sleeps on (an OS-thread parker).
#[derive(Debug)]
pub(crate) struct Remote {
    pub(crate) stealer: Stealer<GRef>,
    pub(crate) runnext: RunNext,
    pub(crate) sleeper: ThreadParker,
    /// Green threads started / finished on this processor (written only by its worker).
    pub(crate) started: AtomicU64,
    pub(crate) finished: AtomicU64,
    /// Counters written only by this processor's worker (Go's `p.schedtick`): resumes of
    /// a green thread, parks committed, successful steals. Sysmon reads `ticks` to spot a
    /// worker stuck in one green thread; `metrics()` reads all three.
    pub(crate) ticks: AtomicU64,
    /// The credit of the handoff chain running on this processor, 0 if none (`chain.rs`):
    /// set by sysmon when it takes the processor from a worker blocked in a call with
    /// green threads queued behind it, spent by green threads that do not block. A hint,
    /// on the line the owner writes `ticks` to: one load per resume.
    pub(crate) chain: AtomicU32,
    pub(crate) parks: AtomicU64,
    pub(crate) steals: AtomicU64,
    /// The owner's OS thread id, for sysmon to see whether it is blocked in the kernel.
    pub(crate) tid: std::sync::atomic::AtomicI32,
    /// Netpoller polls made by this processor's workers (owner-written, like the above).
    pub(crate) netpolls: AtomicU64,
    /// Ticks (`diag/latency.rs`) its workers spent asleep waiting for work: busy time is
    /// the runtime's age minus this.
    pub(crate) idle_ticks: AtomicU64,
    /// Sampled scheduling delays and run times of the green threads resumed here
    /// (`diag/latency.rs`), owner-written.
    pub(crate) scheduling_latency: Histogram,
    pub(crate) run_time: Histogram,
}

impl Remote {
    /// `counter += 1` for a counter only this processor's worker writes (no RMW needed).
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

const NO_TIMEKEEPER: usize = usize::MAX;

/// State shared by all workers of one runtime (Go's `sched`).
#[derive(Debug)]
pub(crate) struct Sched {
    pub(crate) remotes: Box<[CachePadded<Remote>]>,
    /// The processors' owner-only state, used by whichever worker owns each.
    pub(crate) procs: Box<[Processor]>,
    /// Threads without a processor, and the worker-thread budget (`spares.rs`).
    pub(crate) spares: SparePool,
    /// Handoff is on (a `membarrier` is available and the budget allows a spare).
    pub(crate) handoff: bool,
    /// Worker tokens handed out (`handoff.rs`).
    next_token: AtomicUsize,
    /// Workers still inside the green thread during which their processor was handed off.
    pub(crate) lost_running: AtomicUsize,
    /// Green threads finished on a worker without a processor.
    pub(crate) finished_outside: AtomicU64,
    /// Processors handed off so far (`Metrics::handoffs`).
    pub(crate) handoffs: AtomicU64,
    /// Of those, the ones a worker made itself in a handoff chain (`chain.rs`).
    pub(crate) chained_handoffs: AtomicU64,
    /// Spawn sites a chain runs without handing its processor on (`chain.rs`).
    pub(crate) quick_sites: chain::QuickSites,
    pub(crate) injector: Injector<GRef>,
    pub(crate) idle: Idle,
    /// The timer heap and the netpoller, beside the scheduler (`driver.rs`).
    pub(crate) driver: Driver,
    pub(crate) registry: Registry,
    pub(crate) gpool: GPool,
    /// Reservation of every green thread's stack.
    pub(crate) stack_size: usize,
    /// The same, as the usable KiB a stack of that size has (page-rounded): what a G of
    /// the standard size reports, to tell it from a `Spawn::stack_size` one.
    pub(crate) stack_kib: usize,
    shutdown: AtomicBool,
    next_id: AtomicU64,
    /// The sleeping worker that waits for the earliest timer (`timer_inserted`; its sleep
    /// is `worker::sleep_until_work`).
    timekeeper: AtomicUsize,
    /// Green threads started from outside the workers (`Runtime::spawn` on an OS thread).
    pub(crate) started_outside: AtomicU64,
    /// Start of the runtime: origin of the coarse clock.
    pub(crate) epoch: Instant,
    /// The same instant with the tick counter's reading, to convert ticks to time.
    pub(crate) clock_origin: ClockOrigin,
    /// Milliseconds since `epoch`, advanced by sysmon every tick (and by `dump`): what G
    /// state timestamps use, so recording one is a load instead of a clock read.
    clock: CachePadded<AtomicU64>,
    /// Set if this runtime is a synctest bubble (`synctest.rs`), before any worker starts.
    pub(crate) bubble: std::sync::OnceLock<crate::synctest::Bubble>,
    /// The tokio runtime every worker thread enters (`future/tokio.rs`), set before the
    /// first worker starts.
    #[cfg(all(feature = "tokio", not(loom)))]
    pub(crate) tokio: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Sched {
    /// Creates the shared state; processor `i` is owned by the worker with token
    /// `FIRST_TOKEN + i`, to be started by the caller.
    pub(crate) fn new(
        workers: usize,
        stack_size: usize,
        max_threads: usize,
    ) -> std::io::Result<Arc<Sched>> {
        let driver = Driver::new()?;
        let locals: Vec<_> = (0..workers).map(|_| LocalQueue::new_fifo()).collect();
        let remotes = locals
            .iter()
            .map(|l| {
                CachePadded::new(Remote {
                    stealer: l.stealer(),
                    runnext: RunNext::new(),
                    sleeper: ThreadParker::new(),
                    started: AtomicU64::new(0),
                    finished: AtomicU64::new(0),
                    ticks: AtomicU64::new(0),
                    chain: AtomicU32::new(0),
                    parks: AtomicU64::new(0),
                    steals: AtomicU64::new(0),
                    tid: std::sync::atomic::AtomicI32::new(0),
                    netpolls: AtomicU64::new(0),
                    idle_ticks: AtomicU64::new(0),
                    scheduling_latency: Histogram::default(),
                    run_time: Histogram::default(),
                })
            })
            .collect();
        let procs = locals
            .into_iter()
            .enumerate()
            .map(|(i, local)| Processor::new(i, local, FIRST_TOKEN + i))
            .collect();
        let sched = Arc::new(Sched {
            remotes,
            procs,
            spares: SparePool::new(workers, max_threads),
            handoff: handoff::supported() && max_threads > workers,
            next_token: AtomicUsize::new(FIRST_TOKEN + workers),
            lost_running: AtomicUsize::new(0),
            finished_outside: AtomicU64::new(0),
            handoffs: AtomicU64::new(0),
            chained_handoffs: AtomicU64::new(0),
            quick_sites: chain::QuickSites::new(),
            injector: Injector::new(),
            idle: Idle::new(workers),
            driver,
            registry: Registry::new(),
            gpool: GPool::default(),
            stack_size,
            stack_kib: stack_size.next_multiple_of(crate::stacks::page_size()) / 1024,
            shutdown: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            timekeeper: AtomicUsize::new(NO_TIMEKEEPER),
            started_outside: AtomicU64::new(0),
            epoch: Instant::now(),
            clock_origin: ClockOrigin::now(),
            clock: CachePadded::new(AtomicU64::new(0)),
            bubble: std::sync::OnceLock::new(),
            #[cfg(all(feature = "tokio", not(loom)))]
            tokio: std::sync::OnceLock::new(),
        });
        let weak = Arc::downgrade(&sched);
        sched.driver.set_timekeeper_wake(move || {
            if let Some(sched) = weak.upgrade() {
                sched.timer_inserted();
            }
        });
        Ok(sched)
    }

    /// A token for a new worker thread.
    pub(crate) fn next_token(&self) -> usize {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// The coarse clock (milliseconds since `epoch`, lagging by at most a sysmon tick).
    pub(crate) fn coarse_now(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Advances the coarse clock to the real time; returns it.
    pub(crate) fn tick_clock(&self) -> u64 {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.clock.fetch_max(now, Ordering::Relaxed);
        now
    }

    /// Coarse milliseconds of `t` (for deadlines shown by `dump`).
    pub(crate) fn coarse_of(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }

    pub(crate) fn num_processors(&self) -> usize {
        self.remotes.len()
    }

    /// Green threads started so far.
    pub(crate) fn started(&self) -> u64 {
        let inside: u64 = self
            .remotes
            .iter()
            .map(|r| r.started.load(Ordering::Acquire))
            .sum();
        inside + self.started_outside.load(Ordering::Acquire)
    }

    /// Live green threads: started minus finished. Exact for a caller that has observed
    /// (joined) the starts and finishes it cares about; transiently approximate otherwise.
    pub(crate) fn live(&self) -> usize {
        let finished: u64 = self
            .remotes
            .iter()
            .map(|r| r.finished.load(Ordering::Acquire))
            .sum::<u64>()
            + self.finished_outside.load(Ordering::Acquire);
        self.started().saturating_sub(finished) as usize
    }

    /// Reserves `n` consecutive G ids; returns the first.
    pub(crate) fn reserve_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    /// Queues a G on the global queue and wakes a worker for it if needed.
    pub(crate) fn inject(&self, g: GRef) {
        if self.is_shutdown() {
            // Nobody will run it; its coroutine is (or will be) unwound from the registry.
            return;
        }
        self.injector.push(g);
        self.wake_idle_worker();
    }

    /// Wakes a sleeping worker if nobody is searching (Go's `wakep`).
    pub(crate) fn wake_idle_worker(&self) {
        if let Some(i) = self.idle.worker_to_notify() {
            self.wake_worker(i);
        }
    }

    /// Called by the last searcher going to sleep: if any queue still has work, wake a
    /// worker for it (it may have been pushed while we were deciding).
    pub(crate) fn wake_if_work_pending(&self) {
        // Pairs with the fence in `Idle::should_wake` (`primitives/idle.rs`): either the submitter
        // sees our decrement of `num_searching`, or we see its push.
        std::sync::atomic::fence(Ordering::SeqCst);
        let pending =
            self.remotes.iter().any(|r| !r.stealer.is_empty()) || !self.injector.is_empty();
        if pending {
            self.wake_idle_worker();
        }
    }

    /// A timer became the earliest: re-arm the sleeping timekeeper, or make sure some
    /// worker will look at the timers.
    /// Arms `waker` on this runtime's timer heap from one of its workers, waking the
    /// timekeeper if it is now the earliest timer (the direct form of the driver's
    /// callback, for callers that hold the `Sched`).
    pub(crate) fn arm_timer(&self, deadline: Instant, waker: Arc<TimerWaker>) {
        if self.driver.timers.insert(deadline, waker) {
            self.timer_inserted();
        }
    }

    pub(crate) fn timer_inserted(&self) {
        // SeqCst: pairs with `try_become_timekeeper` + `Timers::next_deadline` (a Dekker
        // pair: either we see the keeper, or the keeper sees our timer).
        match self.timekeeper.load(Ordering::SeqCst) {
            NO_TIMEKEEPER => {
                if !context::is_worker_of(self) {
                    self.wake_idle_worker();
                }
                // else: this worker checks timers before it sleeps.
            }
            k => self.wake_worker(k),
        }
    }

    /// Wakes sleeping worker `i`, whether it sleeps on its condvar or in `epoll_wait`.
    pub(crate) fn wake_worker(&self, i: usize) {
        if self.remotes[i].sleeper.unpark_or_external() {
            self.driver.poller.wake();
        }
    }

    pub(crate) fn try_become_timekeeper(&self, worker: usize) -> bool {
        self.timekeeper
            .compare_exchange(NO_TIMEKEEPER, worker, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    pub(crate) fn release_timekeeper(&self, worker: usize) {
        let _ = self.timekeeper.compare_exchange(
            worker,
            NO_TIMEKEEPER,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Step 1 of shutdown: workers stop picking green threads and exit their loops.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for i in 0..self.remotes.len() {
            self.wake_worker(i);
        }
        self.spares.wake_all();
    }

    /// Drops every queued reference (after the workers exited).
    pub(crate) fn drain_queues(&self) {
        while !self.injector.is_empty() {
            drop(self.injector.steal().success());
        }
        for r in self.remotes.iter() {
            drop(r.runnext.take());
        }
        self.gpool.clear();
    }
}

/// Readies a green thread whose park was just claimed by an unpark (Go's `ready`).
pub(crate) fn ready(g: GRef) {
    if crate::diag::trace::on() {
        crate::diag::trace::record(crate::diag::trace::Kind::Unpark, g.id(), 0);
    }
    let locked = g.locked_to.load(Ordering::Acquire);
    if locked != 0 {
        // Locked to its OS thread (`lock_os_thread`): that worker runs it, nobody else.
        // SAFETY: `locked_to` is the address of the mailbox of the worker the G is locked
        // to, which waits for it (and so is alive) while the G is parked; it is stable
        // while the G is parked (only the running G changes it).
        unsafe { &*(locked as *const spares::Spare) }.wake_locked();
        return;
    }
    let g = context::with_worker(|w| match w {
        Some(ctx) if g.belongs_to(&*ctx.sched) => match ctx.p_access() {
            Some(p) => {
                g.set_runnable(ctx.sched.coarse_now());
                p.ready_next(g, &ctx.sched, !ctx.polling.get());
                None
            }
            None => Some(g),
        },
        _ => Some(g),
    });
    if let Some(g) = g {
        g.set_runnable(g.sched.coarse_now());
        let sched = g.sched.clone();
        sched.inject(g);
    }
}

impl Schedule for Sched {
    fn inject(&self, g: GRef) {
        Sched::inject(self, g);
    }

    fn coarse_now(&self) -> u64 {
        Sched::coarse_now(self)
    }

    fn readier(&self) -> fn(GRef) {
        ready
    }

    fn wake_at(&self, deadline: Instant, g: GRef) -> Arc<dyn crate::g::ArmedTimer> {
        let waker = TimerWaker::new(crate::park::Unparker::of_green(g));
        self.arm_timer(deadline, waker.clone());
        waker
    }
}
