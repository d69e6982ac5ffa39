//! A worker (Go's `M`): an OS thread that runs green threads from its processor.
//!
//! A worker starts with a processor (or, started for a handoff, waits for one as a spare,
//! `spares.rs`) and runs `run_loop` while it owns it. If sysmon hands its processor to
//! another thread while a green thread blocks this one (`handoff.rs`), the green thread's
//! next switch ends the loop: the worker queues that green thread globally (`run_lost`)
//! and becomes a spare, to be handed a processor again later or to exit when idle.
//!
//! ```text
//!   run_loop ──▶ find_runnable ──▶ run_g ── resume ──▶ [green thread runs]
//!      ▲             │ nothing                          │ yield: requeue at tail
//!      │             ▼                                  │ park: run release, commit
//!      └──────────  sleep_until_work (sleep; timekeeper) ◀───┘ return: recycle stack, complete
//! ```
//!
//! # Running a green thread (`run_g`)
//! The worker resumes the coroutine; control comes back when the green thread yields,
//! parks or returns. On park the worker runs the green thread's *release* step on its own
//! stack — after the switch, so a waker that the release makes possible can only find a
//! green thread that is already off-CPU — then commits the park (`primitives::park_state`). If a
//! wake-up beat the commit, the green thread is resumed again at once (Go's `park_m` when
//! `unlockf` fails).
//!
//! # Sleeping (`sleep_until_work`)
//! tokio's `transition_to_parked`/`transition_from_parked` (see `primitives/idle.rs`; goro says "sleep"
//! for a worker and keeps "park" for a green thread), plus the timer
//! duty: one sleeping worker is the timekeeper and sleeps only until the earliest timer.

use std::cell::Cell;
use std::io;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use corosensei::CoroutineResult;

use super::handoff::WorkerFlags;
use super::processor::Processor;
use super::spares::{Spare, NO_P, SPARE_IDLE};
use super::{Remote, Sched};
use crate::diag::{latency, trace};
use crate::driver::Driver;
use crate::g::context::ThreadContext;
use crate::g::{GRef, Status, Suspend, G};
use crate::primitives::park_state::Commit;

/// Largest join slot (`JoinState<T>`, so mostly the result type) a pooled G keeps until its
/// next start (`finish`).
const KEPT_JOIN_SLOT_MAX: usize = 256;

/// Green threads a netpoll batch must leave queued on this processor before the poller
/// wakes an idle worker to share them (`poll_quietly`). Fewer are cheaper to run here:
/// each is typically a read, a little work and a write, a few microseconds, while a
/// wake-up costs a futex call here and a context switch there, and an extra awake worker
/// spins for tens of microseconds — on a machine whose other cores are busy (a client on
/// the same host), CPU taken from them. Work left queued longer is shared anyway: sysmon
/// wakes a worker for a processor whose queue waits behind one green thread for a
/// millisecond (`sysmon::retake`).
const NETPOLL_SHARE: usize = 8;

/// Polling rounds a searching worker makes before it sleeps.
const SPIN_ROUNDS: usize = 32;

/// Everything a worker thread owns. Lives on the worker thread's stack for the thread's
/// life; reached through `context.rs`.
#[derive(Debug)]
pub(crate) struct WorkerCtx {
    pub(crate) sched: Arc<Sched>,
    /// This worker's token in processors' ownership words (`handoff.rs`).
    pub(super) token: usize,
    /// This worker's half of the ownership protocol: inside a green thread, and its
    /// progress counter (`handoff.rs`: per worker, never per processor).
    pub(super) flags: Arc<WorkerFlags>,
    /// The processor this worker owns (`&sched.procs[i]`), or null: a spare, or it lost
    /// its processor. A pointer, so `p_access` reads it without a bounds check.
    proc_ptr: Cell<*const Processor>,
    /// True while a green thread runs here and the processor is not being touched: this
    /// thread's copy of its flags' `in_g`, read without atomics.
    pub(super) in_g: Cell<bool>,
    /// The thread context (`g/context.rs`): the G being resumed right now (null in the
    /// scheduler loop), this worker, and the runtime's drivers.
    pub(super) context: ThreadContext,
    /// Where this worker waits while it is a spare, or for its locked green thread.
    pub(super) spare: Arc<Spare>,
    /// `lock_os_thread` calls not yet undone by the green thread running here.
    pub(super) lock_depth: Cell<u32>,
    /// This worker's OS thread id (`gettid`).
    tid: libc::pid_t,
    /// True while this worker delivers a netpoll batch: readied green threads displaced
    /// from `runnext` wake nobody (`poll_quietly` decides once, after the batch).
    pub(super) polling: Cell<bool>,
}

/// Access to the calling worker's processor from code that may run inside a green thread
/// (spawning, readying another G): the processor's owner-only state may be used while
/// this lives. Dropping it lets sysmon see the worker back inside its green thread.
pub(crate) struct PAccess<'a> {
    ctx: &'a WorkerCtx,
    p: &'a Processor,
    /// Taken from inside a green thread: re-enter it on drop.
    from_g: bool,
}

impl Deref for PAccess<'_> {
    type Target = Processor;
    fn deref(&self) -> &Processor {
        self.p
    }
}

impl Drop for PAccess<'_> {
    fn drop(&mut self) {
        if self.from_g {
            self.ctx.in_g.set(true);
            self.ctx.flags.enter_g();
        }
    }
}

/// Starts the worker owning processor `index` on a new OS thread.
pub(crate) fn spawn(
    sched: Arc<Sched>,
    index: usize,
    token: usize,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("goro-worker-{index}"))
        .spawn(move || main(sched, token, index, Spare::new()))
}

/// Starts a spare worker (it waits on the returned mailbox for a processor), within the
/// thread budget.
fn spawn_spare(sched: &Arc<Sched>) -> io::Result<Arc<Spare>> {
    if !sched.spares.reserve() {
        sched.spares.warn_budget();
        return Err(io::Error::other("worker thread budget reached"));
    }
    let spare = Spare::new();
    let token = sched.next_token();
    let (s, mailbox) = (sched.clone(), spare.clone());
    let started = std::thread::Builder::new()
        .name("goro-worker".into())
        .spawn(move || main(s, token, NO_P, mailbox));
    match started {
        Ok(handle) => {
            sched.spares.adopt(handle);
            Ok(spare)
        }
        Err(e) => {
            sched.spares.release();
            Err(e)
        }
    }
}

/// A spare for a handoff: an idle one, else a new one within the thread budget (Go's
/// `startm`). Shared by sysmon, `goro::blocking` and handoff chains.
pub(crate) fn idle_or_new_spare(sched: &Arc<Sched>) -> io::Result<Arc<Spare>> {
    match sched.spares.take() {
        Some(spare) => Ok(spare),
        None => spawn_spare(sched),
    }
}

/// A worker thread's life: run the processor it owns; when it has none, wait as a spare.
fn main(sched: Arc<Sched>, token: usize, index: usize, spare: Arc<Spare>) {
    let _altstack = crate::overflow::AltStack::install();
    if index != NO_P {
        // The initial workers only: a spare started for a handoff is wanted within
        // microseconds, and ~130 `mprotect`s there cost each handed-off call (a burst of
        // green threads blocked in `std` calls: 1 000 of them took 2× longer).
        crate::arena::prewarm();
    }
    // tokio's context for this thread's whole life (`future/tokio.rs`, invariant 1).
    #[cfg(all(feature = "tokio", not(loom)))]
    let tokio = sched.tokio.get().cloned();
    #[cfg(all(feature = "tokio", not(loom)))]
    let _tokio = tokio.as_ref().map(tokio::runtime::Handle::enter);
    let flags = sched.spares.worker_flags();
    // The drivers live in the `Sched` this worker holds (`driver.rs`, invariant 1).
    let context = ThreadContext::new(&sched.driver as *const Driver as *const ());
    let ctx = WorkerCtx {
        sched,
        token,
        flags,
        proc_ptr: Cell::new(ptr::null()),
        in_g: Cell::new(false),
        context,
        spare,
        lock_depth: Cell::new(0),
        // SAFETY: gettid(2) has no preconditions (the raw syscall: glibc before 2.30 has
        // no wrapper).
        tid: unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t,
        polling: Cell::new(false),
    };
    ctx.set_p(index);
    if let Some(p) = ctx.processor() {
        p.ownership.adopt(&ctx.flags); // an initial worker: its processor names its flags
    }
    ctx.context
        .bind_worker(&ctx as *const WorkerCtx as *const ());
    crate::g::context::set(&ctx.context);
    // A spare started for a handoff is held by sysmon until it assigns it a processor
    // (or lists it): it must not list itself the first time (`spares.rs`, invariant 1).
    let mut enlist = index != NO_P;
    loop {
        if ctx.has_processor() {
            ctx.run_loop();
        }
        if ctx.has_processor() || !ctx.wait_for_processor(enlist) {
            break;
        }
        enlist = true;
    }
    crate::g::context::set(ptr::null());
    if let Some(p) = ctx.processor() {
        p.shutdown(&ctx.sched);
    }
    ctx.sched.spares.release();
}

impl WorkerCtx {
    /// The G this worker is running (null in the scheduler loop).
    pub(crate) fn current_g(&self) -> *const G {
        self.context.running.get()
    }

    /// Records that this worker owns processor `index` (or none, with `NO_P`).
    pub(super) fn set_p(&self, index: usize) {
        self.proc_ptr.set(if index == NO_P {
            ptr::null()
        } else {
            &self.sched.procs[index]
        });
    }

    /// The processor this worker owns, for scheduler code (never inside a green thread).
    pub(super) fn processor(&self) -> Option<&Processor> {
        // SAFETY: `proc_ptr` points into `self.sched.procs`, which the `Arc` in `self` keeps
        // alive (`set_p`).
        unsafe { self.proc_ptr.get().as_ref() }
    }

    /// True if this worker owns a processor.
    pub(super) fn has_processor(&self) -> bool {
        !self.proc_ptr.get().is_null()
    }

    /// The processor, if this worker still owns it. Inside a green thread this first tells
    /// sysmon the worker is touching the processor and checks that sysmon has not handed
    /// it away (`handoff.rs`, invariant 3); `None` then means it has, and the caller takes
    /// the global path (as from a plain thread).
    #[inline]
    pub(crate) fn p_access(&self) -> Option<PAccess<'_>> {
        let p = self.processor()?;
        let from_g = self.in_g.get();
        if from_g {
            if !p.ownership.leave_g(&self.flags, self.token) {
                self.set_p(NO_P);
                return None;
            }
            self.in_g.set(false);
        }
        Some(PAccess {
            ctx: self,
            p,
            from_g,
        })
    }

    /// This worker's OS thread id.
    pub(crate) fn os_thread_id(&self) -> libc::pid_t {
        self.tid
    }

    fn run_loop(&self) {
        let Some(p) = self.processor() else { return };
        self.sched.remotes[p.index]
            .tid
            .store(self.tid, Ordering::Relaxed);
        let mut searching = false;
        while !self.sched.is_shutdown() {
            let g = match self.find_runnable(p, &mut searching) {
                Some(g) => {
                    if searching {
                        searching = false;
                        if self.sched.idle.transition_worker_from_searching() {
                            self.sched.wake_idle_worker();
                        }
                    }
                    g
                }
                None => match self.spin(p, searching) {
                    Some(g) => {
                        // Found work after all: stop searching, and if we were the last
                        // searcher, wake another worker to take over (as above).
                        if std::mem::take(&mut searching)
                            && self.sched.idle.transition_worker_from_searching()
                        {
                            self.sched.wake_idle_worker();
                        }
                        g
                    }
                    None => {
                        self.sleep_until_work(p, &mut searching);
                        continue;
                    }
                },
            };
            if !self.run_g(p, g) {
                return; // the processor was handed off: this worker is a spare now
            }
        }
    }

    /// Go's `findRunnable`, minus the sleep (see the scheduler module docs for the order).
    fn find_runnable(&self, p: &Processor, searching: &mut bool) -> Option<GRef> {
        let sched = &*self.sched;
        self.run_timers();
        if let Some(g) = p.next(sched) {
            return Some(g);
        }
        if let Some(g) = self.poll_network(p) {
            return Some(g);
        }
        if !*searching {
            *searching = sched.idle.transition_worker_to_searching();
            if !*searching {
                return None;
            }
        }
        p.steal(sched).or_else(|| p.steal_runnext(sched))
    }

    /// A searching worker keeps looking for a short while before it sleeps (Go's spinning
    /// M): work readied within a few microseconds is picked up without a futex round trip
    /// for the submitter (waking a sleeper) or for us (sleeping and waking).
    fn spin(&self, p: &Processor, searching: bool) -> Option<GRef> {
        if !searching {
            return None;
        }
        let sched = &*self.sched;
        let backoff = crossbeam_utils::Backoff::new();
        for _ in 0..SPIN_ROUNDS {
            backoff.spin();
            if sched.is_shutdown() {
                return None;
            }
            let found = p.next(sched).or_else(|| p.steal(sched));
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Out of local work: collect green threads whose sockets became ready, without
    /// blocking (Go's `netpoll(0)` in `findRunnable`). Skipped when nobody waits on I/O or
    /// another thread is already polling.
    fn poll_network(&self, p: &Processor) -> Option<GRef> {
        let poller = &self.sched.driver.poller;
        if !poller.has_waiters() {
            return None;
        }
        match self.poll_quietly(p, Some(std::time::Duration::ZERO)) {
            Some(n) if n > 0 => p.next(&self.sched),
            _ => None,
        }
    }

    /// Polls the network (`None`: another thread holds the poller), readying the green
    /// threads it finds onto this processor without a wake-up each; then wakes one idle
    /// worker if the batch left `NETPOLL_SHARE` or more queued here. tokio's worker,
    /// which parks on its I/O driver, likewise notifies nobody while it delivers a batch.
    fn poll_quietly(&self, p: &Processor, timeout: Option<std::time::Duration>) -> Option<usize> {
        self.polling.set(true);
        let n = self.sched.driver.poller.poll(timeout);
        self.polling.set(false);
        if n.is_some() {
            Remote::bump(&self.sched.remotes[p.index].netpolls);
        }
        if trace::on() && n.is_some_and(|k| k > 0) {
            trace::record(trace::Kind::Netpoll, 0, n.unwrap_or(0) as u64);
        }
        // Only after a batch that readied something: a refused turn (`None`, retried by
        // the timekeeper in a loop) or an empty poll queued nothing to share.
        if n.is_some_and(|k| k > 0) && p.queued() >= NETPOLL_SHARE {
            self.sched.wake_idle_worker();
        }
        n
    }

    fn run_timers(&self) {
        let timers = &self.sched.driver.timers;
        if timers.is_pending_relaxed() {
            let now = self.sched.driver.now();
            if timers.is_due(now) {
                timers.fire_due(now);
            }
        }
    }

    /// Runs `g` until it yields, parks for good, or returns. False if the processor was
    /// handed off meanwhile (then `g` has been dealt with without it).
    fn run_g(&self, p: &Processor, g: GRef) -> bool {
        let remote = &self.sched.remotes[p.index];
        loop {
            Remote::bump(&remote.ticks);
            let runnable_at = g.diag.set_running(self.sched.coarse_now(), self.tid);
            let resumed_at = if runnable_at != 0 {
                time_delay(remote, runnable_at)
            } else {
                0
            };
            // A chain hands the processor on before a green thread that may block too
            // (`chain.rs`); then `p` is not ours any more while `g` runs.
            let link = if remote.chain.load(Ordering::Relaxed) != 0 {
                self.chain_hand_off(p, &g)
            } else {
                None
            };
            self.context.running.set(GRef::as_ptr(&g));
            self.in_g.set(true);
            self.flags.enter_g();
            if trace::on() {
                trace::record(trace::Kind::Run, g.id(), p.index as u64);
            }
            // SAFETY: we popped `g` from a run queue, so we own its execution (a G is in at
            // most one queue, and only the park protocol's single winner requeues it).
            let result = unsafe { g.resume() };
            if trace::on() {
                trace::record(trace::Kind::Stop, g.id(), stop_reason(&g, &result));
            }
            self.context.running.set(ptr::null());
            // A `p_access` inside the green thread may have lost the processor already;
            // then this touches only this worker's own flags (`handoff.rs`) and is false.
            let owned = p.ownership.leave_g(&self.flags, self.token);
            self.in_g.set(false);
            if !owned {
                match link {
                    Some(link) => link.end(&self.sched),
                    // sysmon took it (or `goro::blocking` gave it): not a quick site.
                    None => self.sched.quick_sites.forget(&g),
                }
                self.set_p(NO_P);
                self.run_lost(g, result);
                return false;
            }
            if resumed_at != 0 {
                // Only while the processor is ours: its histograms have one writer.
                time_run(remote, resumed_at);
            }
            match result {
                CoroutineResult::Yield(Suspend::Yield) if self.is_locked(&g) => {
                    std::thread::yield_now(); // it may run nowhere else
                }
                CoroutineResult::Yield(Suspend::Yield) => {
                    g.set_runnable(self.sched.coarse_now());
                    p.push_local(g, &self.sched);
                    return true;
                }
                CoroutineResult::Yield(Suspend::Park(release)) => {
                    // SAFETY: the G is suspended inside `park_green`, whose frame keeps the
                    // release closure in place until it is resumed; we run it exactly once.
                    unsafe { release.run() };
                    match g.park.commit() {
                        Commit::Parked if self.is_locked(&g) => {
                            Remote::bump(&remote.parks);
                            if !self.hold_locked(p) {
                                self.set_p(NO_P);
                                self.run_locked(g, None);
                                self.sched.lost_running.fetch_sub(1, Ordering::AcqRel);
                                return false;
                            }
                            if self.sched.is_shutdown() {
                                return true; // it stays parked; shutdown unwinds it
                            }
                        }
                        Commit::Parked => {
                            Remote::bump(&remote.parks);
                            return true; // a waker holds its own reference
                        }
                        Commit::Notified => continue,
                    }
                }
                CoroutineResult::Return(()) => {
                    self.finish(Some(p), g);
                    return true;
                }
            }
        }
    }

    /// `g` switched out after this worker's processor was handed off: finish what the
    /// switch asked for without the processor, and queue `g` globally if it is runnable.
    #[cold]
    fn run_lost(&self, g: GRef, result: CoroutineResult<Suspend, ()>) {
        let sched = &*self.sched;
        if self.is_locked(&g) {
            self.run_locked(g, Some(result));
            sched.lost_running.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        match result {
            CoroutineResult::Yield(Suspend::Yield) => {
                g.set_runnable(sched.coarse_now());
                sched.inject(g);
            }
            CoroutineResult::Yield(Suspend::Park(release)) => {
                // SAFETY: as in `run_g`.
                unsafe { release.run() };
                if g.park.commit() == Commit::Notified {
                    g.set_runnable(sched.coarse_now());
                    sched.inject(g);
                }
            }
            CoroutineResult::Return(()) => self.finish(None, g),
        }
        sched.lost_running.fetch_sub(1, Ordering::AcqRel);
    }

    /// The coroutine returned: make the G dead, recycle it if nobody else holds it, count
    /// it out, then wake its joiner. `p` is `None` on a worker that lost its processor.
    pub(super) fn finish(&self, p: Option<&Processor>, g: GRef) {
        let sched = &*self.sched;
        if self.lock_depth.get() != 0 {
            // A locked green thread finished: its thread is released (Go ends the thread).
            self.lock_depth.set(0);
            g.locked_to.store(0, Ordering::Release);
        }
        // SAFETY: we ran `g` to completion; nobody else owns its execution.
        unsafe { g.retire() };
        g.diag.set(Status::Dead, 0);
        if g.is_named() {
            g.set_name(None);
        }
        match p {
            Some(p) => {
                let counter = &sched.remotes[p.index].finished;
                counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
            }
            None => {
                sched.finished_outside.fetch_add(1, Ordering::AcqRel);
            }
        }
        // Only the registry and we hold it: nobody can reach it to unpark it any more. A
        // G with a stack size of its own (`Spawn::stack_size`) is not pooled.
        if GRef::count(&g) == 2 && g.guard.usable_kib() == sched.stack_kib {
            // A small join slot that only the G still holds (its handle was dropped: a
            // detached green thread) stays in the G until its next start frees it, on the
            // thread that spawns there (usually the one that allocated it), not here
            // (`join.rs`). One a handle still holds is let go here, on the line
            // `complete` just wrote: at the next start that decrement missed the cache
            // (the handle frees it, usually on the spawning thread). A big one (a big
            // result type) is not held that long.
            // SAFETY: dead, and exclusively ours until pooled below.
            match unsafe { g.completion() } {
                Some(c)
                    if std::sync::Arc::strong_count(c) == 1
                        && std::mem::size_of_val(&**c) <= KEPT_JOIN_SLOT_MAX =>
                {
                    c.complete()
                }
                // SAFETY: as above.
                _ => complete(unsafe { g.take_completion() }),
            }
            // Shrunk only if kept: a G the pools discard frees its whole slot anyway.
            let shrink = |g: &GRef| {
                // SAFETY: dead, and exclusively ours (see above).
                unsafe { g.shrink_dead_stack() }
            };
            match p {
                Some(p) => p.put_dead_g(g, sched, shrink),
                None => sched.gpool.put(g, shrink),
            }
        } else {
            // SAFETY: as above.
            let completion = unsafe { g.take_completion() };
            // A stale `Unparker` still points at it: never reuse it (that waker could wake
            // the next incarnation); discard it once the last reference goes.
            drop(sched.registry.remove(&g));
            complete(completion);
        }
    }

    /// Sleeps until there is work (or shutdown). See `primitives/idle.rs` for the protocol.
    fn sleep_until_work(&self, p: &Processor, searching: &mut bool) {
        let sched = &*self.sched;
        let index = p.index;
        if p.has_work(sched) {
            return;
        }
        if let Some(bubble) = sched.bubble.get() {
            // A synctest bubble moves its clock, or wakes its waiter, only here.
            if bubble.step(sched) == crate::synctest::Step::Moved {
                return;
            }
        }
        p.flush_retired(sched);
        if sched.idle.transition_worker_to_sleeping(index, *searching) {
            sched.wake_if_work_pending();
        }
        *searching = false;
        // Idle time, for `Metrics`' busy time: the processor is still ours while we sleep
        // (an idle processor stays with its worker), so this is owner-written.
        let slept_at = latency::ticks();
        self.sleep_on(p, searching);
        let idle = &sched.remotes[index].idle_ticks;
        let slept = latency::ticks().saturating_sub(slept_at);
        idle.store(idle.load(Ordering::Relaxed) + slept, Ordering::Relaxed);
    }

    /// `sleep_until_work`'s sleep proper, once the worker is marked sleeping.
    fn sleep_on(&self, p: &Processor, searching: &mut bool) {
        let sched = &*self.sched;
        let index = p.index;
        let sleeper = &sched.remotes[index].sleeper;
        loop {
            if sched.is_shutdown() {
                return;
            }
            if sched.try_become_timekeeper(index) {
                // The timekeeper sleeps in the netpoller, until the earliest timer.
                // A bubble's timers fire when it advances its clock (`synctest.rs`), never
                // by real time passing.
                let deadline = match sched.bubble.get() {
                    Some(_) => None,
                    None => sched.driver.timers.next_deadline(),
                };
                sleeper.park_external(|| {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    // Another worker's non-blocking poll holds the poller for a moment.
                    while self.poll_quietly(p, timeout).is_none() {
                        std::thread::yield_now();
                    }
                });
                sched.release_timekeeper(index);
            } else {
                sleeper.park_until(None);
            }
            self.run_timers();
            if p.has_work(sched) {
                *searching = !sched.idle.wake_worker_by_id(index);
                return;
            }
            if !sched.idle.is_sleeping(index) {
                *searching = true;
                return;
            }
        }
    }

    /// Waits as a spare until sysmon hands this worker a processor (true), or until the
    /// runtime shuts down or the spare has idled for `SPARE_IDLE` (false: exit). `enlist`:
    /// put itself on the idle list first (false while sysmon already holds it).
    fn wait_for_processor(&self, enlist: bool) -> bool {
        let sched = &*self.sched;
        if enlist {
            sched.spares.put(self.spare.clone());
        }
        let mut deadline = Instant::now() + SPARE_IDLE;
        loop {
            // Shutdown wakes the listed spares after setting its flag: a spare listed
            // after that sees the flag here instead.
            let assigned = if sched.is_shutdown() {
                self.spare.take_assignment()
            } else {
                self.spare.wait(deadline)
            };
            if let Some(index) = assigned {
                sched.procs[index].ownership.claim(&self.flags, self.token);
                sched.procs[index].global_first();
                self.set_p(index);
                return true;
            }
            if sched.is_shutdown() || Instant::now() >= deadline {
                if sched.spares.retire(&self.spare) {
                    return false;
                }
                // Popped meanwhile: an assignment is on its way (`spares.rs`, invariant 1).
                deadline = Instant::now() + SPARE_IDLE;
                std::thread::yield_now();
            }
        }
    }
}

/// Fires a completion taken out of its G, then drops it.
fn complete(c: Option<Arc<dyn crate::g::Completion>>) {
    if let Some(c) = c {
        c.complete();
    }
}

/// Why `g` switched out, for the execution trace (`diag/trace.rs`).
fn stop_reason(g: &G, result: &CoroutineResult<Suspend, ()>) -> u64 {
    match result {
        CoroutineResult::Yield(Suspend::Yield) => trace::STOP_YIELD,
        CoroutineResult::Yield(Suspend::Park(_)) => {
            u64::from(g.wait_reason.load(Ordering::Relaxed))
        }
        CoroutineResult::Return(()) => trace::STOP_FINISH,
    }
}

/// A timed G is resumed: records how long it waited since `runnable_at` and returns the
/// tick of its resume (the start of its timed run).
#[cold]
#[inline(never)]
fn time_delay(remote: &Remote, runnable_at: u64) -> u64 {
    let now = latency::ticks();
    remote
        .scheduling_latency
        .record(now.saturating_sub(runnable_at));
    now
}

/// A timed G switched out: records how long it ran since `resumed_at`.
#[cold]
#[inline(never)]
fn time_run(remote: &Remote, resumed_at: u64) {
    let ran = latency::ticks().saturating_sub(resumed_at);
    remote.run_time.record(ran);
}
