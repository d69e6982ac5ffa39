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
            let next = match cur {
                EMPTY | NOTIFIED => NOTIFIED,
                _ => EMPTY, // PARKED: invariant 2, we own the wake-up.
            };
            // AcqRel: release our writes to the woken party, acquire its pre-park writes.
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if cur == PARKED => return Notify::MustWake,
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

    /// True while the party is committed to sleep.
    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Acquire) == PARKED
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
    fn try_consume() {
        let s = ParkState::new();
        assert!(!s.try_consume());
        let _ = s.notify();
        assert!(s.try_consume());
        assert!(!s.is_parked());
    }
}
