//! Processor handoff (Go's `retake`/`handoffp`): who owns a processor, and how sysmon
//! takes it from a worker stuck inside one green thread.
//!
//! A green thread that blocks its OS thread — a `std` call, a foreign library, a loop that
//! never parks — would otherwise hold its processor (local queue, `runnext`, its share of
//! the timer and network duties) for as long as it blocks. sysmon notices a processor whose
//! worker has been inside one green thread for 10 ms and gives the processor to another
//! OS thread (a spare, or a new one). The stuck thread keeps running its green thread; when
//! that green thread next switches out, the thread finds its processor gone, hands the
//! green thread to the global queue and becomes a spare itself.
//!
//! # The ownership word
//! `owner` holds the token of the worker (M) that owns the processor, `REVOKING` while
//! sysmon decides, or `GIVEN` between sysmon's decision and the new owner's claim. `in_g`
//! is true while the owner runs a green thread and does not touch the processor.
//!
//! # Invariants
//! 1. Only the owner touches the processor's owner-only state (its local queue, dead-G
//!    list, counters), and only while `in_g` is false.
//! 2. sysmon takes a processor only from an owner that is inside a green thread: it CASes
//!    the owner's token to `REVOKING`, issues a process-wide barrier, and commits (`GIVEN`)
//!    only if `in_g` is still true and the owner's `epoch` has not moved since it was seen
//!    stuck; otherwise it puts the token back.
//! 3. The owner leaving a green thread stores `in_g = false`, then reads `owner`. With the
//!    barrier between sysmon's CAS and its read of `in_g` this is a Dekker pair: either
//!    sysmon sees `in_g == false` (and gives up), or the owner sees `REVOKING`/`GIVEN`
//!    (and waits for the verdict, or has lost). Never both proceed.
//! 4. The owner's `in_g = true` is a release store and sysmon's read an acquire load, and
//!    `GIVEN` is released to the new owner's acquire claim: everything the old owner did
//!    to the processor happens before the new owner's first access.
//! 5. A worker that lost its processor never touches it again, except one store of
//!    `in_g = false` that may race with the new owner (it only ever delays a handoff of the
//!    new owner, never allows one: the new owner stores `in_g` on each switch).
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
use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU64;

/// Sysmon committed to taking the processor; the new owner has not claimed it yet.
const GIVEN: usize = 0;
/// Sysmon is deciding (between its CAS and its commit or undo).
const REVOKING: usize = 1;
/// Worker tokens start here.
pub(crate) const FIRST_TOKEN: usize = 2;

/// A processor's ownership word and its owner's "inside a green thread" flag.
#[derive(Debug)]
pub(crate) struct Ownership {
    owner: AtomicUsize,
    in_g: AtomicBool,
    /// Times the owner left a green thread or touched the processor from one (written only
    /// by the owner): sysmon's measure of progress. A green thread that spawns or wakes
    /// others in a loop is using the scheduler, not stuck in it.
    epoch: AtomicU64,
}

impl Ownership {
    /// Owned by the worker with `token` (which is in the scheduler).
    pub(crate) fn new(token: usize) -> Ownership {
        Ownership {
            owner: AtomicUsize::new(token),
            in_g: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// The owner is about to run a green thread (or go back to the one it runs).
    #[inline]
    pub(crate) fn enter_g(&self) {
        // Release: invariant 4.
        self.in_g.store(true, Ordering::Release);
    }

    /// The owner `token` is back in the scheduler (or about to touch the processor from
    /// a green thread). True if it still owns the processor; false if sysmon gave it away.
    #[inline]
    pub(crate) fn leave_g(&self, token: usize) -> bool {
        // Owner-only counter: no read-modify-write needed (a stray store by an old owner,
        // invariant 5, only looks like progress and delays a handoff).
        let epoch = self.epoch.load(Ordering::Relaxed);
        self.epoch.store(epoch.wrapping_add(1), Ordering::Relaxed);
        self.in_g.store(false, Ordering::Relaxed);
        owner_side_barrier();
        let owner = self.owner.load(Ordering::Acquire);
        owner == token || self.await_verdict(token)
    }

    #[cold]
    fn await_verdict(&self, token: usize) -> bool {
        loop {
            match self.owner.load(Ordering::Acquire) {
                REVOKING => crate::loom::spin(),
                owner => return owner == token,
            }
        }
    }

    /// The owner's progress counter (see `epoch`).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// True if the owner runs a green thread right now (racy; for sysmon's first look).
    pub(crate) fn in_g(&self) -> bool {
        self.in_g.load(Ordering::Relaxed)
    }

    /// sysmon: takes the processor if its owner is still inside the green thread it was
    /// seen stuck in (`still_stuck` re-checks that after the barrier). True: the processor
    /// is `GIVEN`, and exactly one new owner must [`claim`](Self::claim) it.
    pub(crate) fn revoke(&self, still_stuck: impl Fn() -> bool) -> bool {
        let owner = self.owner.load(Ordering::Acquire);
        if owner < FIRST_TOKEN || !self.in_g.load(Ordering::Acquire) {
            return false;
        }
        if self
            .owner
            .compare_exchange(owner, REVOKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        slow_side_barrier();
        // Acquire: invariant 4.
        if self.in_g.load(Ordering::Acquire) && still_stuck() {
            self.owner.store(GIVEN, Ordering::Release);
            true
        } else {
            self.owner.store(owner, Ordering::Release);
            false
        }
    }

    /// The owner `token`, in the scheduler (`in_g` false), gives the processor up for a
    /// new owner to [`claim`](Self::claim) (`lock_os_thread`). Waits out a sysmon that is
    /// deciding: seeing `in_g` false, it puts the token back.
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

    /// The new owner `token` takes a `GIVEN` processor.
    pub(crate) fn claim(&self, token: usize) {
        let previous = self.owner.swap(token, Ordering::AcqRel);
        debug_assert_eq!(previous, GIVEN, "claimed a processor that was not given");
        self.in_g.store(false, Ordering::Relaxed);
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

#[cfg(not(loom))]
fn slow_side_barrier() {
    membarrier::heavy();
}

#[cfg(loom)]
fn slow_side_barrier() {
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
    }

    /// The old owner: `rounds` times, leave the green thread, touch the processor if
    /// still owned, enter the next green thread. Returns whether it lost the processor.
    fn owner(p: &P, rounds: u64) -> bool {
        for _ in 0..rounds {
            if !p.own.leave_g(OLD) {
                return true;
            }
            // SAFETY: owned (`leave_g` said so): loom checks nobody else touches it now.
            p.queue.with_mut(|q| unsafe { *q += 1 });
            p.own.enter_g();
        }
        false
    }

    fn model(rounds: u64) {
        loom::model(move || {
            let p = Arc::new(P {
                own: Ownership::new(OLD),
                queue: UnsafeCell::new(0),
            });
            p.own.enter_g(); // the owner starts inside a green thread
            let sysmon = {
                let p = p.clone();
                thread::spawn(move || {
                    let seen = p.own.epoch();
                    if p.own.revoke(|| p.own.epoch() == seen) {
                        // The new owner.
                        p.own.claim(NEW);
                        // SAFETY: claimed: loom checks the old owner is done with it.
                        p.queue.with_mut(|q| unsafe { *q += 100 });
                        true
                    } else {
                        false
                    }
                })
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
}
