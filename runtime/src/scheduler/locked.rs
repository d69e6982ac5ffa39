//! The worker side of `goro::lock_os_thread` (`os_thread.rs` has the API): a worker whose
//! green thread locked itself to the OS thread gives its processor away and from then on
//! runs only that green thread, whose wake-ups arrive in the worker's mailbox (`Spare`)
//! instead of a run queue (`scheduler::ready`).
//!
//! # Invariants
//! 1. While `lock_depth > 0`, the running G's `locked_to` holds this worker's mailbox
//!    address, and the G runs nowhere else: a yield resumes it here, a park waits here.
//! 2. The worker is counted in `Sched::lost_running` exactly while it runs the locked G
//!    without a processor (not while it waits for it), so deadlock detection sees it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use corosensei::CoroutineResult;

use super::processor::Processor;
use super::worker::WorkerCtx;
use crate::g::{GRef, Suspend, G};
use crate::primitives::park_state::Commit;

impl WorkerCtx {
    /// True if `g` is locked to this worker (`lock_os_thread`).
    pub(super) fn is_locked(&self, g: &G) -> bool {
        self.runs_locked_g() && g.locked_to.load(Ordering::Relaxed) == self.mailbox()
    }

    /// True while the green thread running here is locked to this thread.
    pub(crate) fn runs_locked_g(&self) -> bool {
        self.lock_depth.get() != 0
    }

    /// This worker's mailbox address, as a locked G records it.
    fn mailbox(&self) -> usize {
        Arc::as_ptr(&self.spare) as usize
    }

    /// `lock_os_thread` from the green thread running here: from the first call on, wake-ups
    /// of this green thread come to this worker, and the worker gives its processor to
    /// another thread, so no other green thread runs here meanwhile.
    pub(crate) fn lock_g(&self) {
        let depth = self.lock_depth.get();
        self.lock_depth.set(depth + 1);
        if depth != 0 {
            return;
        }
        // SAFETY: called from the green thread running here, which the worker keeps alive.
        let g = unsafe { &*self.context.running.get() };
        g.locked_to.store(self.mailbox(), Ordering::Release);
        // To a spare if one can be had; else the processor stays, and sysmon hands it off
        // once the locked green thread parks (`hold_locked`).
        let _ = self.hand_off_processor();
    }

    /// `unlock_os_thread`: true if that was the last lock and the green thread, which runs
    /// here without a processor, must now switch out to be scheduled normally again.
    pub(crate) fn unlock_g(&self) -> bool {
        match self.lock_depth.get() {
            0 => false,
            1 => {
                self.lock_depth.set(0);
                // SAFETY: as in `lock_g`.
                let g = unsafe { &*self.context.running.get() };
                g.locked_to.store(0, Ordering::Release);
                !self.has_processor()
            }
            n => {
                self.lock_depth.set(n - 1);
                false
            }
        }
    }

    /// The locked green thread parked while this worker still owns its processor: wait
    /// for its wake-up with the processor marked as inside a green thread, so sysmon hands
    /// the processor to another thread meanwhile. False if it did.
    pub(super) fn hold_locked(&self, p: &Processor) -> bool {
        self.in_g.set(true);
        self.flags.enter_g();
        self.spare.wait_locked(|| self.sched.is_shutdown());
        let owned = p.ownership.leave_g(&self.flags, self.token);
        self.in_g.set(false);
        owned
    }

    /// Runs the green thread locked to this worker, which has no processor, until it
    /// unlocks (then it is queued globally) or finishes. `result` is its last switch, if
    /// it has not been dealt with yet. Counted in `lost_running` while it runs.
    pub(super) fn run_locked(&self, g: GRef, mut result: Option<CoroutineResult<Suspend, ()>>) {
        let sched = &*self.sched;
        loop {
            match result.take() {
                None => {
                    // Parked and committed: wait for its wake-up, uncounted meanwhile.
                    sched.lost_running.fetch_sub(1, Ordering::AcqRel);
                    self.spare.wait_locked(|| sched.is_shutdown());
                    sched.lost_running.fetch_add(1, Ordering::AcqRel);
                    if sched.is_shutdown() {
                        return; // shutdown unwinds it from the registry
                    }
                }
                Some(CoroutineResult::Yield(Suspend::Yield)) => {
                    if !self.is_locked(&g) {
                        g.set_runnable(sched.coarse_now());
                        sched.inject(g);
                        return;
                    }
                    std::thread::yield_now();
                }
                Some(CoroutineResult::Yield(Suspend::Park(release))) => {
                    // SAFETY: as in `run_g`.
                    unsafe { release.run() };
                    if g.park.commit() == Commit::Parked {
                        if !self.is_locked(&g) {
                            return; // its waker queues it
                        }
                        continue; // wait for it
                    }
                }
                Some(CoroutineResult::Return(())) => {
                    self.finish(None, g);
                    return;
                }
            }
            g.diag.set_running(sched.coarse_now(), self.os_thread_id());
            self.context.running.set(GRef::as_ptr(&g));
            self.in_g.set(true);
            // SAFETY: the locked G runs only here; it switched out and was not requeued.
            result = Some(unsafe { g.resume() });
            self.context.running.set(std::ptr::null());
            self.in_g.set(false);
        }
    }
}
