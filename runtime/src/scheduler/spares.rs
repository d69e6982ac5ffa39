//! Spare workers (Go's idle M list, `sched.midle`): OS threads without a processor,
//! waiting for sysmon to hand them one, and the runtime's budget of worker threads.
//!
//! A worker that lost its processor to a handoff (`handoff.rs`) becomes a spare once its
//! green thread switches out; sysmon starts a new one when it needs a thread and none is
//! idle. A spare idle for `SPARE_IDLE` exits. The budget (`Builder::max_threads`, Go's
//! `debug.SetMaxThreads`, 10 000 there) counts every worker thread of the runtime: those
//! with a processor, the spares, and those still inside a blocked green thread after
//! losing theirs. At the budget sysmon hands nothing off and says so once.
//!
//! # Invariants
//! 1. A spare is in `idle` exactly while it waits unassigned; whoever pops it owns the
//!    right to assign it a processor (or to put it back).
//! 2. `assigned` goes from `NO_P` to a processor index once per pop, before the unpark; the
//!    spare reads it after waking and resets it.
//! 3. `threads` never exceeds `max_threads` for threads started here (`reserve` is a CAS
//!    loop); the initial workers are counted in from the start.
//! 4. Every worker's `WorkerFlags` stays in `flags` until the pool drops with the runtime's
//!    shared state (`handoff.rs`, invariant 6); a set whose worker exited (held only here)
//!    goes to the next worker that starts, under the `flags` lock.
//!
//! # Lock order
//! `idle`, `handles` and `flags` are leaf locks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handoff::WorkerFlags;
use crate::lock::Mutex;
use crate::primitives::thread_parker::ThreadParker;

/// No processor assigned.
pub(crate) const NO_P: usize = usize::MAX;
/// How long a spare waits unassigned before its thread exits.
pub(crate) const SPARE_IDLE: Duration = Duration::from_secs(10);

/// One spare worker's mailbox.
#[derive(Debug)]
pub(crate) struct Spare {
    parker: ThreadParker,
    assigned: AtomicUsize,
    /// The green thread locked to this worker (`lock_os_thread`) was woken.
    locked_ready: AtomicBool,
}

impl Spare {
    pub(crate) fn new() -> Arc<Spare> {
        Arc::new(Spare {
            parker: ThreadParker::new(),
            assigned: AtomicUsize::new(NO_P),
            locked_ready: AtomicBool::new(false),
        })
    }

    /// Hands processor `index` to this (popped) spare and wakes it.
    pub(crate) fn assign(&self, index: usize) {
        self.assigned.store(index, Ordering::Release);
        self.parker.unpark();
    }

    /// Waits until assigned (`Some(index)`), woken (`None`: check shutdown), or `deadline`.
    pub(crate) fn wait(&self, deadline: Instant) -> Option<usize> {
        self.parker.park_until(Some(deadline));
        self.take_assignment()
    }

    /// Delivers the wake-up of the green thread locked to this worker.
    pub(crate) fn wake_locked(&self) {
        self.locked_ready.store(true, Ordering::Release);
        self.parker.unpark();
    }

    /// Waits for [`wake_locked`](Self::wake_locked) (or shutdown: `is_shutdown` says).
    pub(crate) fn wait_locked(&self, is_shutdown: impl Fn() -> bool) {
        while !self.locked_ready.swap(false, Ordering::AcqRel) && !is_shutdown() {
            // Shutdown does not know this mailbox: look at the flag now and then.
            self.parker
                .park_until(Some(Instant::now() + Duration::from_millis(100)));
        }
    }

    /// The assignment, if one arrived, without waiting.
    pub(crate) fn take_assignment(&self) -> Option<usize> {
        let i = self.assigned.swap(NO_P, Ordering::AcqRel);
        (i != NO_P).then_some(i)
    }

    /// Wakes the spare without an assignment (shutdown).
    pub(crate) fn wake(&self) {
        self.parker.unpark();
    }
}

/// The runtime's spares and its worker-thread budget.
#[derive(Debug)]
pub(crate) struct SparePool {
    idle: Mutex<Vec<Arc<Spare>>>,
    threads: AtomicUsize,
    max_threads: usize,
    warned: AtomicBool,
    /// Threads started for handoffs, joined at shutdown.
    handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Every worker's flags (`handoff.rs`), kept for the runtime's life (invariant 4): a
    /// processor may point at the flags of a worker that exited. Those held only here are
    /// free for the next worker.
    flags: Mutex<Vec<Arc<WorkerFlags>>>,
}

impl SparePool {
    /// A pool whose budget already counts the `initial` workers.
    pub(crate) fn new(initial: usize, max_threads: usize) -> SparePool {
        SparePool {
            idle: Mutex::new(Vec::new()),
            threads: AtomicUsize::new(initial),
            max_threads: max_threads.max(initial),
            warned: AtomicBool::new(false),
            handles: Mutex::new(Vec::new()),
            flags: Mutex::new(Vec::new()),
        }
    }

    /// Flags for a worker thread that starts: a free set, or a new one kept here too.
    pub(crate) fn worker_flags(&self) -> Arc<WorkerFlags> {
        let mut all = self.flags.lock();
        if let Some(free) = all.iter().find(|f| Arc::strong_count(f) == 1) {
            return free.clone();
        }
        let flags = Arc::new(WorkerFlags::default());
        all.push(flags.clone());
        flags
    }

    /// An idle spare, now owned by the caller (invariant 1).
    pub(crate) fn take(&self) -> Option<Arc<Spare>> {
        self.idle.lock().pop()
    }

    /// Puts a spare (back) on the idle list.
    pub(crate) fn put(&self, spare: Arc<Spare>) {
        self.idle.lock().push(spare);
    }

    /// Takes `spare` off the idle list for good (it is exiting). False if someone popped
    /// it meanwhile: an assignment is on its way, so it must wait for it.
    pub(crate) fn retire(&self, spare: &Arc<Spare>) -> bool {
        let mut idle = self.idle.lock();
        match idle.iter().position(|s| Arc::ptr_eq(s, spare)) {
            Some(i) => {
                idle.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Counts in one more worker thread if the budget allows.
    pub(crate) fn reserve(&self) -> bool {
        self.threads
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_threads).then_some(n + 1)
            })
            .is_ok()
    }

    /// A worker thread exited.
    pub(crate) fn release(&self) {
        self.threads.fetch_sub(1, Ordering::AcqRel);
    }

    /// Worker threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.threads.load(Ordering::Acquire)
    }

    /// Spares waiting for a processor now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().len()
    }

    /// Says once that the budget stopped a handoff.
    pub(crate) fn warn_budget(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "goro: the runtime already has {} worker threads, its limit: a green thread \
                 blocked in a call (inside goro::blocking, or stuck for more than 10 ms in a \
                 std call or a long computation) keeps its processor, and green threads \
                 queued there wait until it returns. Raise the limit with \
                 Builder::max_threads.",
                self.max_threads
            );
        }
    }

    /// Keeps the handle of a thread started for a handoff.
    pub(crate) fn adopt(&self, handle: std::thread::JoinHandle<()>) {
        let mut handles = self.handles.lock();
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    /// Shutdown: wakes every idle spare so it sees the flag and exits.
    pub(crate) fn wake_all(&self) {
        for s in self.idle.lock().iter() {
            s.wake();
        }
    }

    /// Shutdown: joins every thread started for a handoff.
    pub(crate) fn join_all(&self) {
        loop {
            let handles = std::mem::take(&mut *self.handles.lock());
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// True once every thread started for a handoff has exited.
    pub(crate) fn all_finished(&self) -> bool {
        self.handles.lock().iter().all(|h| h.is_finished())
    }
}
