//! A worker giving its processor away from inside a green thread, at once (Go's
//! `entersyscallblock` + `handoffp`): the worker side of `goro::blocking` and of
//! `lock_os_thread`.
//!
//! sysmon hands off the processor of a worker stuck in a call it did not see coming, after
//! a detection delay (`handoff.rs`). A call the code *marks* as blocking needs no delay:
//! the worker hands its processor, queue and duties, to a spare before the call starts,
//! runs the call on its own thread, and — at the green thread's next switch, which
//! `blocking` makes right after the call — finds the processor gone, queues the green
//! thread globally and becomes a spare itself (`worker.rs`, `run_lost`). So a blocking
//! call costs what it costs in Go: one OS thread while it blocks, and two thread wake-ups
//! (the spare's, then whichever worker picks the green thread up again).
//!
//! # Invariants
//! 1. The hand-over is the owner's own (`Ownership::give`): it leaves the green thread
//!    first (`leave_g`, the Dekker half that sysmon's barrier pairs with), so sysmon never
//!    takes the same processor at the same time; if sysmon was faster, the worker has
//!    already lost it and hands nothing.
//! 2. A worker that handed its processor off counts in `Sched::lost_running` until the
//!    green thread's next switch is dealt with (`run_lost`/`run_locked` count it out), as
//!    after a sysmon handoff: deadlock detection sees it as a possible waker.
//! 3. The spare is assigned only after the processor is `GIVEN` and this worker forgot it
//!    (`set_p(NO_P)`): from then on this thread never touches the processor again (its
//!    next `leave_g` writes only its own flags, `handoff.rs`, invariant 5).

use std::io;
use std::sync::atomic::Ordering;

use super::spares::{Spare, NO_P};
use super::worker::{idle_or_new_spare, WorkerCtx};
use crate::g::Status;

/// `goro::blocking`'s exit: the call returned (or unwinds); the green thread is running
/// again, wherever it is.
pub(crate) fn exit_syscall() {
    super::context::with_worker(|w| {
        if let Some(ctx) = w.filter(|ctx| !ctx.current_g().is_null()) {
            // SAFETY: as in `enter_syscall`.
            let g = unsafe { &*ctx.current_g() };
            g.diag
                .set_running(ctx.sched.coarse_now(), ctx.os_thread_id());
        }
    });
}

/// What [`WorkerCtx::hand_off_processor`] did.
#[derive(Debug)]
pub(crate) enum HandOff {
    /// The processor went to a spare; this thread runs the green thread without one.
    Given,
    /// This worker had no processor to give (sysmon took it, or an earlier hand-off did).
    AlreadyLost,
    /// No thread could take it (the budget, or the OS refused a thread): the worker keeps
    /// its processor.
    Kept(io::Error),
}

impl WorkerCtx {
    /// `goro::blocking`'s entry from the green thread running here: marks it as in a
    /// system call (`dump` shows `[syscall]`) and hands the processor off.
    pub(crate) fn enter_syscall(&self) -> HandOff {
        // SAFETY: called from the green thread running here (non-null `current`), which
        // the worker keeps alive while it runs.
        let g = unsafe { &*self.context.running.get() };
        g.diag.set(Status::Syscall, self.sched.coarse_now());
        // The OS thread the call blocks, for `dump` (a G in a syscall waits on nothing).
        g.diag.set_waiting_on(self.os_thread_id() as usize, 0);
        self.hand_off_processor()
    }

    /// From the green thread running here: gives this worker's processor to an idle
    /// spare, or to a new one within the thread budget.
    pub(crate) fn hand_off_processor(&self) -> HandOff {
        let Some(p) = self.processor() else {
            return HandOff::AlreadyLost;
        };
        let (index, own) = (p.index, &p.ownership);
        if !own.leave_g(&self.flags, self.token) {
            self.set_p(NO_P); // sysmon was faster (invariant 1)
            return HandOff::AlreadyLost;
        }
        let spare = match idle_or_new_spare(&self.sched) {
            Ok(spare) => spare,
            Err(e) => {
                self.flags.enter_g();
                return HandOff::Kept(e);
            }
        };
        self.give_processor(index, &spare);
        HandOff::Given
    }

    /// Gives processor `index`, owned here and not touched from a green thread right now,
    /// to `spare` (also a handoff chain's link, `chain.rs`).
    pub(super) fn give_processor(&self, index: usize, spare: &Spare) {
        self.sched.procs[index].ownership.give(self.token);
        self.sched.lost_running.fetch_add(1, Ordering::AcqRel); // invariant 2
        self.sched.handoffs.fetch_add(1, Ordering::Relaxed);
        if crate::diag::trace::on() {
            crate::diag::trace::record(crate::diag::trace::Kind::Handoff, 0, index as u64);
        }
        self.set_p(NO_P);
        spare.assign(index); // invariant 3
    }
}
