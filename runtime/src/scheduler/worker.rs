//! A worker (Go's `M`): an OS thread that runs green threads from its processor.
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
//! green thread that is already off-CPU — then commits the park (`park::state`). If a
//! wake-up beat the commit, the green thread is resumed again at once (Go's `park_m` when
//! `unlockf` fails).
//!
//! # Sleeping (`sleep_until_work`)
//! tokio's `transition_to_parked`/`transition_from_parked` (see `idle.rs`; goro says "sleep"
//! for a worker and keeps "park" for a green thread), plus the timer
//! duty: one sleeping worker is the timekeeper and sleeps only until the earliest timer.

use std::cell::Cell;
use std::io;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use corosensei::CoroutineResult;
use crossbeam_deque::Worker as LocalQueue;

use super::context;
use super::processor::Processor;
use super::{Remote, Sched};
use crate::g::{GRef, Status, Suspend, G};
use crate::park::state::Commit;

/// Polling rounds a searching worker makes before it sleeps.
const SPIN_ROUNDS: usize = 32;

/// Everything a worker thread owns. Lives on the worker thread's stack for the thread's
/// life; reached through `context.rs`.
#[derive(Debug)]
pub(crate) struct WorkerCtx {
    pub(crate) sched: Arc<Sched>,
    pub(crate) p: Processor,
    /// The G being resumed right now (null in the scheduler loop).
    current: Cell<*const G>,
}

/// Starts worker `index` on a new OS thread.
pub(crate) fn spawn(
    sched: Arc<Sched>,
    index: usize,
    local: LocalQueue<GRef>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("goro-worker-{index}"))
        .spawn(move || {
            let _altstack = crate::overflow::AltStack::install();
            crate::arena::prewarm();
            let ctx = WorkerCtx {
                sched,
                p: Processor::new(index, local),
                current: Cell::new(ptr::null()),
            };
            context::set_worker(&ctx);
            ctx.run_loop();
            context::set_worker(ptr::null());
            ctx.p.shutdown(&ctx.sched);
        })
}

impl WorkerCtx {
    /// The G this worker is running (null in the scheduler loop).
    pub(crate) fn current_g(&self) -> *const G {
        self.current.get()
    }

    /// Puts a readied G in `runnext`; a G it displaces goes to the local queue, where
    /// another worker could take it, so that case may wake one.
    pub(crate) fn ready_next(&self, g: GRef) {
        let sched = &*self.sched;
        if let Some(old) = sched.remotes[self.p.index].runnext.put(g) {
            self.p.push_local(old, sched);
            sched.wake_idle_worker();
        }
    }

    fn run_loop(&self) {
        let mut searching = false;
        while !self.sched.is_shutdown() {
            match self.find_runnable(&mut searching) {
                Some(g) => {
                    if searching {
                        searching = false;
                        if self.sched.idle.transition_worker_from_searching() {
                            self.sched.wake_idle_worker();
                        }
                    }
                    self.run_g(g);
                }
                None => {
                    if let Some(g) = self.spin(searching) {
                        // Found work after all: stop searching, and if we were the last
                        // searcher, wake another worker to take over (as above).
                        if std::mem::take(&mut searching)
                            && self.sched.idle.transition_worker_from_searching()
                        {
                            self.sched.wake_idle_worker();
                        }
                        self.run_g(g);
                    } else {
                        self.sleep_until_work(&mut searching);
                    }
                }
            }
        }
    }

    /// Go's `findRunnable`, minus the sleep (see the scheduler module docs for the order).
    fn find_runnable(&self, searching: &mut bool) -> Option<GRef> {
        let sched = &*self.sched;
        self.run_timers();
        if let Some(g) = self.p.next(sched) {
            return Some(g);
        }
        if let Some(g) = self.poll_network() {
            return Some(g);
        }
        if !*searching {
            *searching = sched.idle.transition_worker_to_searching();
            if !*searching {
                return None;
            }
        }
        self.p.steal(sched).or_else(|| self.p.steal_runnext(sched))
    }

    /// A searching worker keeps looking for a short while before it sleeps (Go's spinning
    /// M): work readied within a few microseconds is picked up without a futex round trip
    /// for the submitter (waking a sleeper) or for us (sleeping and waking).
    fn spin(&self, searching: bool) -> Option<GRef> {
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
            let found = self.p.next(sched).or_else(|| self.p.steal(sched));
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Out of local work: collect green threads whose sockets became ready, without
    /// blocking (Go's `netpoll(0)` in `findRunnable`). Skipped when nobody waits on I/O or
    /// another thread is already polling.
    fn poll_network(&self) -> Option<GRef> {
        let poller = &self.sched.poller;
        if !poller.has_waiters() {
            return None;
        }
        match poller.poll(Some(std::time::Duration::ZERO)) {
            Some(n) if n > 0 => self.p.next(&self.sched),
            _ => None,
        }
    }

    fn run_timers(&self) {
        let timers = &self.sched.timers;
        if timers.is_pending_relaxed() {
            let now = Instant::now();
            if timers.is_due(now) {
                timers.fire_due(now);
            }
        }
    }

    /// Runs `g` until it yields, parks for good, or returns.
    fn run_g(&self, g: GRef) {
        let remote = &self.sched.remotes[self.p.index];
        loop {
            Remote::bump(&remote.ticks);
            g.diag.set(Status::Running, self.sched.coarse_now());
            self.current.set(GRef::as_ptr(&g));
            // SAFETY: we popped `g` from a run queue, so we own its execution (a G is in at
            // most one queue, and only the park protocol's single winner requeues it).
            let result = unsafe { g.resume() };
            self.current.set(ptr::null());
            match result {
                CoroutineResult::Yield(Suspend::Yield) => {
                    g.diag.set(Status::Runnable, self.sched.coarse_now());
                    self.p.push_local(g, &self.sched);
                    return;
                }
                CoroutineResult::Yield(Suspend::Park(release)) => {
                    // SAFETY: the G is suspended inside `park_green`, whose frame keeps the
                    // release closure in place until it is resumed; we run it exactly once.
                    unsafe { release.run() };
                    match g.park.commit() {
                        Commit::Parked => {
                            Remote::bump(&remote.parks);
                            return; // a waker holds its own reference
                        }
                        Commit::Notified => continue,
                    }
                }
                CoroutineResult::Return(()) => {
                    self.finish(g);
                    return;
                }
            }
        }
    }

    /// The coroutine returned: make the G dead, recycle it if nobody else holds it, count
    /// it out, then wake its joiner.
    fn finish(&self, g: GRef) {
        let sched = &*self.sched;
        // SAFETY: we ran `g` to completion; nobody else owns its execution.
        let completion = unsafe {
            g.retire();
            g.take_completion()
        };
        g.diag.set(Status::Dead, 0);
        // Only the registry and we hold it: nobody can reach it to unpark it any more.
        if GRef::count(&g) == 2 {
            // SAFETY: dead, and exclusively ours (see above).
            unsafe { g.shrink_dead_stack() };
            self.p.put_dead_g(g, sched);
        } else {
            // A stale `Unparker` still points at it: never reuse it (that waker could wake
            // the next incarnation); discard it once the last reference goes.
            drop(sched.registry.remove(&g));
        }
        let counter = &sched.remotes[self.p.index].finished;
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Release);
        if let Some(c) = completion {
            c.complete();
        }
    }

    /// Sleeps until there is work (or shutdown). See `idle.rs` for the protocol.
    fn sleep_until_work(&self, searching: &mut bool) {
        let sched = &*self.sched;
        let index = self.p.index;
        if self.p.has_work(sched) {
            return;
        }
        if sched.idle.transition_worker_to_sleeping(index, *searching) {
            sched.wake_if_work_pending();
        }
        *searching = false;
        let sleeper = &sched.remotes[index].sleeper;
        loop {
            if sched.is_shutdown() {
                return;
            }
            if sched.try_become_timekeeper(index) {
                // The timekeeper sleeps in the netpoller, until the earliest timer.
                let deadline = sched.timers.next_deadline();
                sleeper.park_external(|| {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    // Another worker's non-blocking poll holds the poller for a moment.
                    while sched.poller.poll(timeout).is_none() {
                        std::thread::yield_now();
                    }
                });
                sched.release_timekeeper(index);
            } else {
                sleeper.park_until(None);
            }
            self.run_timers();
            if self.p.has_work(sched) {
                *searching = !sched.idle.wake_worker_by_id(index);
                return;
            }
            if !sched.idle.is_sleeping(index) {
                *searching = true;
                return;
            }
        }
    }
}
