//! Processor handoff (Go's `retake`/`handoffp`): who owns a processor, and how sysmon
//! takes it from a worker stuck inside one green thread.
//!
//! A green thread that blocks its OS thread — a `std` call, a foreign library, a loop that
//! never parks — would otherwise hold its processor (local queue, `runnext`, its share of
//! the timer and network duties) for as long as it blocks. sysmon notices a processor whose
//! worker has been inside one green thread for a while and gives the processor to another
//! OS thread (a spare, or a new one). The stuck thread keeps running its green thread; when
//! that green thread next switches out, the thread finds its processor gone, hands the
//! green thread to the global queue and becomes a spare itself.
//!
//! # The ownership word and the worker's flags
//! A processor's `owner` holds the token of the worker (M) that owns it, `REVOKING` while
//! sysmon decides, or `GIVEN` between sysmon's decision and the new owner's claim; `flags`
//! points at the owner's [`WorkerFlags`]. The flags belong to the *worker*, not to the
//! processor: `in_g` is true while the worker runs a green thread and does not touch its
//! processor, and `epoch` counts its switches. A worker that lost its processor still
//! leaves its green thread once more, and that store lands on its own flags, which nobody
//! reads for that processor any more. (When `in_g` lived in the processor, that one stray
//! `in_g = false` could land while the new owner was blocked inside a green thread, and
//! hide it from sysmon for as long as it blocked: a runtime whose every processor was
//! held by a thread blocked in `std::sync::mpsc::Receiver::recv` hung for good.)
//!
//! # Invariants
//! 1. Only the owner touches the processor's owner-only state (its local queue, dead-G
//!    list, counters), and only while its `in_g` is false.
//! 2. sysmon takes a processor only from an owner that is inside a green thread: it CASes
//!    the owner's token to `REVOKING`, issues a process-wide barrier, and commits (`GIVEN`)
//!    only if the owner's `in_g` is still true and its `epoch` has not moved since it was
//!    seen stuck; otherwise it puts the token back. One barrier serves every processor
//!    marked `REVOKING` before it (sysmon takes all it found blocked in one round).
//! 3. The owner leaving a green thread stores its `in_g = false`, then reads `owner`. With
//!    the barrier between sysmon's CAS and its read of `in_g` this is a Dekker pair: either
//!    sysmon sees `in_g == false` (and gives up), or the owner sees `REVOKING`/`GIVEN`
//!    (and waits for the verdict, or has lost). Never both proceed.
//! 4. The owner's `in_g = true` is a release store and sysmon's read an acquire load, and
//!    `GIVEN` is released to the new owner's acquire claim: everything the old owner did
//!    to the processor happens before the new owner's first access.
//! 5. `flags` changes only in [`Ownership::claim`] and [`Ownership::adopt`], before the
//!    new owner's token is published, and is read by sysmon only after it read that token
//!    (acquire): while `owner` holds a token, `flags` is that token's worker's. A worker
//!    that lost its processor never touches the processor again; its flags are its own.
//! 6. Every `WorkerFlags` a processor can point at stays allocated until the runtime's
//!    shared state drops (`SparePool` keeps them: a worker's flags go back to the pool
//!    when its thread exits), so sysmon may dereference `flags` at any time.
//!
//! # The barrier
//! The owner's side is on the hottest path of the scheduler (every switch), so it has no
//! fence: sysmon's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every running
//! thread of the process execute a full barrier, which is what the owner's side would
//! have needed (the asymmetric Dekker of Linux's RCU and of folly's `asymmetricHeavyBarrier`).
//! Kernels before 4.14 fall back to `MEMBARRIER_CMD_GLOBAL` (4.3, slower, still only
//! sysmon pays); without `membarrier` at all, handoff is off and sysmon only wakes idle
//! workers to steal, as before. Under loom both sides use a `SeqCst` fence.

use crate::loom::{AtomicBool, AtomicUsize, Ordering};

#[cfg(loom)]
use loom::sync::atomic::{AtomicPtr, AtomicU64};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicPtr, AtomicU64};

/// Sysmon committed to taking the processor; the new owner has not claimed it yet.
const GIVEN: usize = 0;
/// Sysmon is deciding (between its CAS and its commit or undo).
const REVOKING: usize = 1;
/// Worker tokens start here.
pub(crate) const FIRST_TOKEN: usize = 2;
/// Spins a worker waits for sysmon's verdict before it yields its CPU instead.
const VERDICT_SPINS: u32 = 64;

/// One worker thread's half of the protocol: whether it runs a green thread, and how many
/// times it left one (invariant 5: per worker, so a worker that lost its processor writes
/// only its own). Its worker writes it on every switch: alone on its cache lines (128
/// bytes, the adjacent-line prefetch pair, as crossbeam's `CachePadded`).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct WorkerFlags {
    in_g: AtomicBool,
    /// Times the worker left a green thread or touched its processor from one (written only
    /// by the worker): sysmon's measure of progress. A green thread that spawns or wakes
    /// others in a loop is using the scheduler, not stuck in it.
    epoch: AtomicU64,
}

impl WorkerFlags {
    /// The worker is about to run a green thread (or go back to the one it runs).
    #[inline]
    pub(crate) fn enter_g(&self) {
        // Release: invariant 4.
        self.in_g.store(true, Ordering::Release);
    }
}

/// A processor's ownership word, and the flags of its owner.
#[derive(Debug)]
pub(crate) struct Ownership {
    owner: AtomicUsize,
    /// The owner's flags (null until the first owner [`adopt`](Self::adopt)s the processor).
    flags: AtomicPtr<WorkerFlags>,
}

impl Ownership {
    /// Owned by the worker with `token`, which [`adopt`](Self::adopt)s it before it runs
    /// anything.
    pub(crate) fn new(token: usize) -> Ownership {
        Ownership {
            owner: AtomicUsize::new(token),
            flags: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The first owner (token given to [`new`](Self::new)) names its flags.
    pub(crate) fn adopt(&self, flags: &WorkerFlags) {
        flags.in_g.store(false, Ordering::Relaxed);
        // Release: invariant 5 (sysmon reads `flags` after an acquire read of `owner`;
        // the first owner's token was there from the start, so this is also read with
        // acquire before it is dereferenced).
        self.flags.store(
            flags as *const WorkerFlags as *mut WorkerFlags,
            Ordering::Release,
        );
    }

    /// The owner `token` (whose flags are `flags`) is back in the scheduler, or about to
    /// touch the processor from a green thread. True if it still owns the processor;
    /// false if sysmon gave it away.
    #[inline]
    pub(crate) fn leave_g(&self, flags: &WorkerFlags, token: usize) -> bool {
        // Only this worker writes its counter: no read-modify-write needed.
        let epoch = flags.epoch.load(Ordering::Relaxed);
        flags.epoch.store(epoch.wrapping_add(1), Ordering::Relaxed);
        flags.in_g.store(false, Ordering::Relaxed);
        owner_side_barrier();
        let owner = self.owner.load(Ordering::Acquire);
        owner == token || self.await_verdict(token)
    }

    /// Waits out sysmon between its CAS and its commit. That window holds a `membarrier`
    /// (inter-processor interrupts) and sysmon may be preempted inside it, so after a short
    /// spin this yields the CPU, which may be the one sysmon waits for: a pure spin took
    /// 30% of the CPU in a burst of handoffs on two cores.
    #[cold]
    fn await_verdict(&self, token: usize) -> bool {
        let mut spins = 0u32;
        loop {
            match self.owner.load(Ordering::Acquire) {
                REVOKING if spins < VERDICT_SPINS => {
                    spins += 1;
                    crate::loom::spin();
                }
                REVOKING => yield_thread(),
                owner => return owner == token,
            }
        }
    }

    /// The current owner's flags, if it has named them.
    fn owner_flags(&self) -> Option<&WorkerFlags> {
        let flags = self.flags.load(Ordering::Acquire);
        // SAFETY: `flags` is null or points at a `WorkerFlags` that lives as long as the
        // runtime's shared state, which owns this processor (invariant 6).
        unsafe { flags.as_ref() }
    }

    /// The owner's progress counter (see [`WorkerFlags`]); it jumps when the owner changes.
    pub(crate) fn epoch(&self) -> u64 {
        self.owner_flags()
            .map_or(0, |f| f.epoch.load(Ordering::Relaxed))
    }

    /// True if the owner runs a green thread right now (racy; for sysmon's first look).
    pub(crate) fn in_g(&self) -> bool {
        self.owner_flags()
            .is_some_and(|f| f.in_g.load(Ordering::Relaxed))
    }

    /// sysmon: takes the processor if its owner is still inside the green thread it was
    /// seen stuck in (`still_stuck` re-checks that after the barrier). True: the processor
    /// is `GIVEN`, and exactly one new owner must [`claim`](Self::claim) it.
    #[cfg(all(test, loom))]
    pub(crate) fn revoke(&self, still_stuck: impl Fn() -> bool) -> bool {
        let Some(owner) = self.begin_revoke() else {
            return false;
        };
        revoke_barrier();
        self.end_revoke(owner, still_stuck)
    }

    /// sysmon, first step of a revocation: if the owner is inside a green thread, marks
    /// the processor `REVOKING` and returns the owner's token. The caller must issue
    /// [`revoke_barrier`] and then [`end_revoke`](Self::end_revoke) — one barrier serves
    /// every processor marked before it.
    pub(crate) fn begin_revoke(&self) -> Option<usize> {
        let owner = self.owner.load(Ordering::Acquire);
        if owner < FIRST_TOKEN || !self.in_g() {
            return None;
        }
        self.owner
            .compare_exchange(owner, REVOKING, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
    }

    /// sysmon, after the barrier: commits (`GIVEN`, true) if `owner` is still inside the
    /// green thread it was seen stuck in (`still_stuck`), else puts its token back.
    pub(crate) fn end_revoke(&self, owner: usize, still_stuck: impl Fn() -> bool) -> bool {
        // The flags of the worker whose token we replaced (invariant 5); acquire on
        // `in_g`: invariant 4.
        let in_g = self
            .owner_flags()
            .is_some_and(|f| f.in_g.load(Ordering::Acquire));
        if in_g && still_stuck() {
            self.owner.store(GIVEN, Ordering::Release);
            true
        } else {
            self.owner.store(owner, Ordering::Release);
            false
        }
    }

    /// The owner `token`, in the scheduler (its `in_g` false), gives the processor up for
    /// a new owner to [`claim`](Self::claim) (`lock_os_thread`, `goro::blocking`). Waits
    /// out a sysmon that is deciding: seeing `in_g` false, it puts the token back.
    pub(crate) fn give(&self, token: usize) {
        loop {
            match self
                .owner
                .compare_exchange(token, GIVEN, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(REVOKING) => crate::loom::spin(),
                Err(_) => crate::fatal("gave up a processor this worker did not own"),
            }
        }
    }

    /// The new owner `token`, whose flags are `flags`, takes a `GIVEN` processor.
    pub(crate) fn claim(&self, flags: &WorkerFlags, token: usize) {
        flags.in_g.store(false, Ordering::Relaxed);
        // Published by the release half of the swap below (invariant 5).
        self.flags.store(
            flags as *const WorkerFlags as *mut WorkerFlags,
            Ordering::Relaxed,
        );
        let previous = self.owner.swap(token, Ordering::AcqRel);
        debug_assert_eq!(previous, GIVEN, "claimed a processor that was not given");
    }
}

/// The owner's half of the barrier: nothing at run time (`membarrier` supplies it), but
/// the compiler must not move the `in_g` store past the `owner` load.
#[inline]
fn owner_side_barrier() {
    #[cfg(not(loom))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Gives up the CPU for a moment (under loom: one more interleaving step).
fn yield_thread() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// sysmon's half of the barrier, between [`Ownership::begin_revoke`] and
/// [`Ownership::end_revoke`]: every thread of the process executes a full barrier.
#[cfg(not(loom))]
pub(crate) fn revoke_barrier() {
    membarrier::heavy();
}

#[cfg(loom)]
pub(crate) fn revoke_barrier() {
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// True if this kernel gives sysmon the barrier handoff needs (checked once).
pub(crate) fn supported() -> bool {
    #[cfg(not(loom))]
    return membarrier::command().is_some();
    #[cfg(loom)]
    return true;
}

#[cfg(not(loom))]
mod membarrier {
    use std::sync::OnceLock;

    const QUERY: libc::c_int = 0;
    const GLOBAL: libc::c_int = 1;
    const PRIVATE_EXPEDITED: libc::c_int = 8;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 16;

    fn call(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: membarrier(2) takes two integers and touches no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    /// The strongest command this kernel offers: `PRIVATE_EXPEDITED` (4.14, registered
    /// here), else `GLOBAL` (4.3); `None` without `membarrier`.
    pub(super) fn command() -> Option<libc::c_int> {
        static COMMAND: OnceLock<Option<libc::c_int>> = OnceLock::new();
        *COMMAND.get_or_init(|| {
            let mask = call(QUERY);
            if mask < 0 {
                return None;
            }
            let mask = mask as libc::c_int;
            if mask & PRIVATE_EXPEDITED != 0 && call(REGISTER_PRIVATE_EXPEDITED) == 0 {
                Some(PRIVATE_EXPEDITED)
            } else if mask & GLOBAL != 0 {
                Some(GLOBAL)
            } else {
                None
            }
        })
    }

    /// Every running thread of the process executes a full memory barrier before this
    /// returns.
    pub(super) fn heavy() {
        let cmd = command().expect("goro: handoff without membarrier");
        if call(cmd) != 0 {
            crate::fatal("membarrier failed after it was registered");
        }
    }
}

/// loom models of the handoff (run with `RUSTFLAGS="--cfg loom"`, see `loom.rs`): the
/// owner switching in and out of a green thread and touching its processor in between,
/// sysmon revoking, and the new owner taking over. loom reports a data race if two of
/// them could touch the processor at once.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    const OLD: usize = FIRST_TOKEN;
    const NEW: usize = FIRST_TOKEN + 1;

    struct P {
        own: Ownership,
        /// The owner-only state.
        queue: UnsafeCell<u64>,
        old: WorkerFlags,
        new: WorkerFlags,
    }

    fn processor() -> Arc<P> {
        let p = Arc::new(P {
            own: Ownership::new(OLD),
            queue: UnsafeCell::new(0),
            old: WorkerFlags::default(),
            new: WorkerFlags::default(),
        });
        p.own.adopt(&p.old);
        p.old.enter_g(); // the owner starts inside a green thread
        p
    }

    /// The old owner: `rounds` times, leave the green thread, touch the processor if
    /// still owned, enter the next green thread. Returns whether it lost the processor.
    fn owner(p: &P, rounds: u64) -> bool {
        for _ in 0..rounds {
            if !p.own.leave_g(&p.old, OLD) {
                return true;
            }
            // SAFETY: owned (`leave_g` said so): loom checks nobody else touches it now.
            p.queue.with_mut(|q| unsafe { *q += 1 });
            p.old.enter_g();
        }
        false
    }

    /// sysmon revokes once; if it wins, the new owner claims, touches the processor and
    /// enters a green thread (where it may block for good).
    fn sysmon_then_new_owner(p: &P) -> bool {
        let seen = p.own.epoch();
        if !p.own.revoke(|| p.own.epoch() == seen) {
            return false;
        }
        p.own.claim(&p.new, NEW);
        // SAFETY: claimed: loom checks the old owner is done with it.
        p.queue.with_mut(|q| unsafe { *q += 100 });
        p.new.enter_g();
        true
    }

    fn model(rounds: u64) {
        loom::model(move || {
            let p = processor();
            let sysmon = {
                let p = p.clone();
                thread::spawn(move || sysmon_then_new_owner(&p))
            };
            let lost = owner(&p, rounds);
            let given = sysmon.join().unwrap();
            if given {
                // The old owner lost it unless it was still inside its green thread.
                // SAFETY: both threads are done (joined, or lost and returned).
                let old_rounds = p.queue.with(|q| unsafe { *q }) - 100;
                assert!(lost || old_rounds == rounds, "both owned the processor");
            } else {
                assert!(!lost, "lost a processor nobody took");
            }
            // Whoever owns it now is inside a green thread (the new owner blocked in its
            // first one, or the old owner back in its next): sysmon can take it again.
            // Before the flags were per worker, the old owner's last `in_g = false` could
            // land after the new owner entered and hide it from sysmon for good.
            assert!(p.own.revoke(|| true), "a stuck owner hidden from sysmon");
        });
    }

    #[test]
    fn loom_handoff_one_switch() {
        model(1);
    }

    #[test]
    fn loom_handoff_two_switches() {
        model(2);
    }

    /// A handoff chain's link (`chain.rs`) and `goro::blocking`: the owner leaves its
    /// green thread and, still owning the processor, gives it to a spare itself, while
    /// sysmon may be revoking it. One of them wins; the processor's state is never
    /// touched by two threads at once; whoever owns it last can still be taken.
    #[test]
    fn loom_owner_gives_while_sysmon_revokes() {
        const SPARE: usize = FIRST_TOKEN + 2;
        loom::model(|| {
            let p = processor();
            // The spare's flags live as long as the runtime would keep them (invariant 6).
            let spare_flags = Arc::new(WorkerFlags::default());
            let sysmon = {
                let p = p.clone();
                thread::spawn(move || sysmon_then_new_owner(&p))
            };
            // The owner: back in the scheduler, it touches its processor and gives it on.
            let gave = p.own.leave_g(&p.old, OLD);
            let spare = gave.then(|| {
                // SAFETY: owned (`leave_g` said so).
                p.queue.with_mut(|q| unsafe { *q += 1 });
                p.own.give(OLD);
                // The assignment (a release store and the spare's acquire, here the spawn).
                let (p, flags) = (p.clone(), spare_flags.clone());
                thread::spawn(move || {
                    p.own.claim(&flags, SPARE);
                    // SAFETY: claimed: loom checks the giver is done with it.
                    p.queue.with_mut(|q| unsafe { *q += 10 });
                    flags.enter_g(); // and blocks in its green thread
                })
            });
            let revoked = sysmon.join().unwrap();
            if let Some(spare) = spare {
                spare.join().unwrap();
            }
            // SAFETY: every thread that could touch it is done or never will.
            let q = p.queue.with(|q| unsafe { *q });
            // sysmon took it from the old owner (100), or the owner gave it (1 + 10); sysmon
            // may then also have taken it from the spare, blocked in its green thread.
            match (gave, revoked) {
                (false, true) => assert_eq!(q, 100),
                (true, false) => assert_eq!(q, 11),
                (true, true) => assert_eq!(q, 111),
                (false, false) => unreachable!("the owner lost a processor nobody took"),
            }
            assert!(p.own.revoke(|| true), "a stuck owner hidden from sysmon");
            drop(spare_flags);
        });
    }
}
