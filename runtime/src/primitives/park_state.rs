//! The three-state parking protocol shared by green threads and OS threads.
//!
//! One word per parkable party (a green thread's `G`, or an OS thread's `ThreadParker`)
//! decides who is responsible for waking it. The same machine serves both forms; they
//! differ only in what "blocked" means (stack switched out vs. waiting on a condvar).
//!
//! ```text
//!            park: commit()                         unpark: notify()
//!   EMPTY ─────────────────────▶ PARKED ──────────────────────────▶ EMPTY + caller wakes it
//!     │ ▲                                                            (MustWake)
//!     │ └──── commit() consumes the token (Notified) ◀──┐
//!     └──────── unpark before the park is committed ───▶ NOTIFIED
//! ```
//!
//! # Invariants
//! 1. Only the parked party (or the worker acting for it after its stack switched out)
//!    moves `EMPTY → PARKED` and `NOTIFIED → EMPTY`.
//! 2. Only `notify` moves `PARKED → EMPTY`, and the one call that does so receives
//!    [`Notify::MustWake`]: exactly one waker reschedules a parked party, so a green thread
//!    is never queued twice and never lost.
//! 3. At most one token is pending: unparks that arrive while `NOTIFIED` coalesce, exactly
//!    like `std::thread::park`. Parks may therefore return spuriously; every caller
//!    re-checks its own condition in a loop.
//! 4. Every `notify` is a release read-modify-write and every token consumption an acquire
//!    read-modify-write, so a party that consumed a token has seen the writes of every
//!    notifier whose token it consumed (coalesced ones included).
//!
//! # Held parked stacks (green threads only)
//! sysmon may take a long-parked green thread's stack out to compact it
//! (`stacks/compact.rs`). It first moves `PARKED → HELD`; while `HELD`, a `notify` moves
//! to `HELD_WOKEN` and returns [`Notify::Token`], so no waker requeues the green thread
//! while its stack is out of place. sysmon then releases the hold ([`ParkState::unhold`]):
//! `HELD → PARKED` (nobody came), or `HELD_WOKEN → EMPTY` and sysmon owns the wake-up —
//! invariant 2 still gives exactly one waker. The [`COMPACTED`] bit rides on the state
//! from the release until the worker about to resume the green thread restores its stack
//! and clears it; every transition above keeps it.
//!
//! 5. Only sysmon moves `PARKED → HELD` and out of `HELD`/`HELD_WOKEN`; it sets
//!    `COMPACTED` only in that release, and only the worker resuming the green thread
//!    clears it, before the green thread runs. So a green thread runs only with its stack
//!    in place, and `commit` never sees the bit.
//!
//! # Why this closes the lost-wakeup window
//! A party registers itself somewhere (a channel's wait queue, a join slot, a timer) *before*
//! committing. If a waker finds it there before `commit`, the waker sees `EMPTY` and leaves a
//! token; `commit` then fails with `Notified` and the party runs again instead of sleeping.
//! If the waker comes after `commit`, it sees `PARKED` and owns the wake-up.

use crate::loom::{AtomicUsize, Ordering};

/// Running (or runnable), no token pending.
pub(crate) const EMPTY: usize = 0;
/// Committed to sleep; the next `notify` must wake it.
pub(crate) const PARKED: usize = 1;
/// A wake-up arrived before the park was committed; the next `commit` consumes it.
pub(crate) const NOTIFIED: usize = 2;
/// Parked, and sysmon holds the stack (compacting it): nobody may requeue the party.
pub(crate) const HELD: usize = 3;
/// `HELD`, and a wake-up came: sysmon requeues the party when it lets go.
pub(crate) const HELD_WOKEN: usize = 4;
/// The state's bits (the rest of the word is flags).
const STATE: usize = 0b111;
/// Flag: the parked stack is compacted; the worker that resumes the party restores it.
pub(crate) const COMPACTED: usize = 0b1000;

/// True if a green thread whose park word is `word` has its stack out of place: held by
/// sysmon, or compacted (`dump()` then reads the saved copy).
#[cfg_attr(
    not(all(feature = "stack-traces", target_arch = "x86_64")),
    allow(dead_code)
)]
pub(crate) fn stack_out(word: usize) -> bool {
    word & COMPACTED != 0 || matches!(word & STATE, HELD | HELD_WOKEN)
}

/// Result of [`ParkState::commit`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The party is now `PARKED`; some future `notify` will wake it.
    Parked,
    /// A token was pending; it has been consumed and the party must keep running.
    Notified,
}

/// Result of [`ParkState::notify`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notify {
    /// The party was parked and this caller now owns waking it (requeue / signal).
    MustWake,
    /// The party was running; a token was left (or one was already pending).
    Token,
}

/// The parking word. See the module docs for the protocol.
#[derive(Debug)]
pub(crate) struct ParkState {
    state: AtomicUsize,
}

impl ParkState {
    pub(crate) fn new() -> ParkState {
        ParkState {
            state: AtomicUsize::new(EMPTY),
        }
    }

    /// Commits a park (`EMPTY → PARKED`) or consumes a pending token.
    ///
    /// Called by the parked party itself (OS thread) or by the worker that just switched
    /// its stack out (green thread), after the release step has run.
    pub(crate) fn commit(&self) -> Commit {
        // AcqRel: on success, publish everything the party did before parking to the waker
        // that will read PARKED; on failure, acquire the waker's writes (its token).
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Commit::Parked,
            Err(NOTIFIED) => {
                // Invariant 1: only the party itself clears a token. A read-modify-write,
                // not a store: it reads the latest value, so it acquires from *every*
                // notifier that wrote the token, including one that came after our failed
                // CAS (a plain store here lost that notifier's writes; found by loom).
                self.state.swap(EMPTY, Ordering::AcqRel);
                Commit::Notified
            }
            Err(actual) => unreachable!("goro: park committed twice (state {actual})"),
        }
    }

    /// Wakes the party: leaves a token if it is running, or claims the wake-up if parked.
    pub(crate) fn notify(&self) -> Notify {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            // Even a coalescing notify (NOTIFIED → NOTIFIED) writes: the parked party must
            // acquire this notifier's prior writes when it consumes the token.
            let next = match cur & STATE {
                EMPTY | NOTIFIED => NOTIFIED,
                PARKED => EMPTY, // invariant 2, we own the wake-up.
                _ => HELD_WOKEN, // invariant 5: sysmon owns it.
            } | (cur & COMPACTED);
            // AcqRel: release our writes to the woken party, acquire its pre-park writes.
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if cur & STATE == PARKED => return Notify::MustWake,
                Ok(_) => return Notify::Token,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes a pending token without parking (`NOTIFIED → EMPTY`). True if there was one.
    pub(crate) fn try_consume(&self) -> bool {
        // Acquire: synchronize with the notifier's release.
        self.state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Withdraws a committed park after a timeout (`PARKED → EMPTY`). False if a
    /// concurrent `notify` already claimed the wake-up (the state is then `EMPTY` too).
    pub(crate) fn cancel(&self) -> bool {
        self.state
            .compare_exchange(PARKED, EMPTY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True while the party is committed to sleep (held by sysmon included).
    pub(crate) fn is_parked(&self) -> bool {
        matches!(self.state.load(Ordering::Acquire) & STATE, PARKED | HELD)
    }

    /// sysmon takes a parked green thread's stack (`PARKED → HELD`, invariant 5). False if
    /// it is not parked (or already compacted).
    pub(crate) fn hold(&self) -> bool {
        // Acquire: the stack as the party left it (its release CAS in `commit`).
        self.state
            .compare_exchange(PARKED, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// sysmon lets go of a held party, marking it `COMPACTED` if it compacted the stack.
    /// True if a wake-up came meanwhile: the caller now owns it (must requeue the party).
    pub(crate) fn unhold(&self, compacted: bool) -> bool {
        let flag = if compacted { COMPACTED } else { 0 };
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = match cur & STATE {
                HELD => PARKED,
                HELD_WOKEN => EMPTY,
                s => unreachable!("goro: unhold in state {s}"),
            } | flag;
            // AcqRel: release the compacted stack to whoever resumes the party; acquire
            // the writes of a waker that came meanwhile.
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return cur & STATE == HELD_WOKEN,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The whole word, for `dump()`'s consistency check (`diag/stack_trace.rs`).
    #[cfg_attr(
        not(all(feature = "stack-traces", target_arch = "x86_64")),
        allow(dead_code)
    )]
    pub(crate) fn word(&self) -> usize {
        self.state.load(Ordering::Acquire)
    }

    /// True if the party's stack is compacted (read by the worker about to resume it,
    /// which acquired the state through the run queue).
    #[inline(always)]
    pub(crate) fn is_compacted(&self) -> bool {
        self.state.load(Ordering::Relaxed) & COMPACTED != 0
    }

    /// The resuming worker restored the stack (invariant 5).
    pub(crate) fn clear_compacted(&self) {
        self.state.fetch_and(!COMPACTED, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn token_before_commit_is_consumed() {
        let s = ParkState::new();
        assert_eq!(s.notify(), Notify::Token);
        assert_eq!(s.notify(), Notify::Token, "tokens coalesce");
        assert_eq!(s.commit(), Commit::Notified);
        assert_eq!(s.commit(), Commit::Parked);
        assert_eq!(s.notify(), Notify::MustWake);
        assert_eq!(
            s.notify(),
            Notify::Token,
            "the woken party is running again"
        );
    }

    #[test]
    fn cancel_races_with_notify() {
        let s = ParkState::new();
        assert_eq!(s.commit(), Commit::Parked);
        assert!(s.cancel());
        assert_eq!(s.commit(), Commit::Parked);
        assert_eq!(s.notify(), Notify::MustWake);
        assert!(!s.cancel(), "the waker already claimed it");
    }

    #[test]
    fn a_wake_up_while_held_goes_to_the_holder() {
        let s = ParkState::new();
        assert!(!s.hold(), "not parked");
        assert_eq!(s.commit(), Commit::Parked);
        assert!(s.hold());
        assert!(s.is_parked());
        assert_eq!(s.notify(), Notify::Token, "held: the holder wakes it");
        assert_eq!(s.notify(), Notify::Token);
        assert!(s.unhold(true), "the holder owns the wake-up");
        assert!(s.is_compacted());
        assert_eq!(s.notify(), Notify::Token, "running: a token");
        assert!(s.is_compacted(), "transitions keep the flag");
        s.clear_compacted();
        assert_eq!(s.commit(), Commit::Notified);
        assert_eq!(s.commit(), Commit::Parked);
        assert!(s.hold());
        assert!(!s.unhold(true), "nobody came");
        assert!(!s.hold(), "compacted already");
        assert_eq!(s.notify(), Notify::MustWake);
        assert!(s.is_compacted());
    }

    #[test]
    fn try_consume() {
        let s = ParkState::new();
        assert!(!s.try_consume());
        let _ = s.notify();
        assert!(s.try_consume());
        assert!(!s.is_parked());
    }
}
