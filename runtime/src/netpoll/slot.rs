//! One direction (read or write) of a poll descriptor: Go's `pollDesc.rg`/`wg`.
//!
//! ```text
//!             wait: park, release step CAS EMPTY → &waiter
//!   EMPTY ─────────────────────────────────────────────▶ WAITING(ptr)
//!     ▲  ▲                                                   │
//!     │  └── wait consumes READY (CAS READY → EMPTY)         │ notify: swap → READY,
//!     │                                                      ▼  unpark the waiter
//!     └──────────── notify (swap → READY) ──────────────▶ READY
//! ```
//!
//! # Invariants
//! 1. The word is `EMPTY`, `READY`, or a parked waiter's `Unparker` in its one-word form
//!    (`Unparker::into_raw`, no allocation). It changes only by atomic read-modify-write.
//! 2. At most one waiter per slot (the socket types serialize each direction).
//! 3. Whoever swaps a waiter out of the word owns that `Unparker`: `notify` (swap → READY)
//!    unparks with it; a timed-out waiter (CAS waiter → EMPTY) drops it itself.
//! 4. The waiter installs its pointer in the release step, *after* its stack switched out
//!    (Go's `netpollblockcommit`); if readiness arrived first the CAS fails and the waiter
//!    unparks itself, so the park commits as `Notified` and it runs on. No event is lost.
//!
//! Readiness is edge-triggered and may be stale: a waiter that consumed READY retries its
//! I/O and waits again on `EWOULDBLOCK`.

use std::time::Instant;

use crate::loom::{AtomicUsize, Ordering};
use crate::park::{self, Unparker, WaitReason};

const EMPTY: usize = 0;
const READY: usize = 1;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: AtomicUsize,
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Readiness was signalled (possibly stale): retry the operation.
    Ready,
    /// The deadline passed first.
    TimedOut,
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            state: AtomicUsize::new(EMPTY),
        }
    }

    /// Marks the direction ready and wakes its waiter, if any. Called by the poller.
    pub(crate) fn notify(&self) {
        let prev = self.state.swap(READY, Ordering::AcqRel);
        if prev > READY {
            // SAFETY: invariant 3: the word came from `Unparker::into_raw` in `wait`, and our
            // swap removed it from the slot, so we convert it back exactly once.
            unsafe { Unparker::from_raw(prev) }.unpark();
        }
    }

    /// Consumes a pending READY without waiting. True if there was one.
    pub(crate) fn take_ready(&self) -> bool {
        self.state
            .compare_exchange(READY, EMPTY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Parks the calling green thread until `notify` or `deadline`.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Waited {
        loop {
            if self.take_ready() {
                return Waited::Ready;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Waited::TimedOut;
            }
            let me = park::current().into_raw();
            let install = || {
                // Invariant 4.
                if self
                    .state
                    .compare_exchange(EMPTY, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Readiness won the race: do not sleep.
                    // SAFETY: the CAS failed, so the word never left our hands.
                    unsafe { Unparker::from_raw(me) }.unpark();
                }
            };
            match deadline {
                None => park::park(WaitReason::Io, install),
                Some(d) => park::park_until(WaitReason::Io, d, install),
            }
            // Woken, timed out, or spurious: take our pointer back if it is still there.
            if self
                .state
                .compare_exchange(me, EMPTY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: our CAS removed the word: it is ours again (invariant 3).
                drop(unsafe { Unparker::from_raw(me) });
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let s = self.state.load(Ordering::Acquire);
        if s > READY {
            // SAFETY: nobody else can reach the slot any more; the waiter word is ours.
            drop(unsafe { Unparker::from_raw(s) });
        }
    }
}
