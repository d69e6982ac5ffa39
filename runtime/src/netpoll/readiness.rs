//! The readiness word of one direction (read or write) of a poll descriptor: Go's
//! `pollDesc.rg`/`wg`.
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
//! 2. At most one waiter per readiness (the socket types serialize each direction).
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
pub(crate) struct Readiness {
    state: AtomicUsize,
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WaitEnd {
    /// Readiness was signalled (possibly stale): retry the operation.
    Ready,
    /// The deadline passed first.
    TimedOut,
}

impl Readiness {
    pub(crate) fn new() -> Readiness {
        Readiness {
            state: AtomicUsize::new(EMPTY),
        }
    }

    /// Marks the direction ready and wakes its waiter, if any. Called by the poller.
    pub(crate) fn notify(&self) {
        if let Some(word) = self.set_ready() {
            // SAFETY: invariant 3: the word came from `Unparker::into_raw` in `wait`, and our
            // swap removed it from the readiness, so we convert it back exactly once.
            unsafe { Unparker::from_raw(word) }.unpark();
        }
    }

    /// The transition of `notify`: → READY, returning the waiter word it displaced (now
    /// owned by the caller, invariant 3).
    fn set_ready(&self) -> Option<usize> {
        let prev = self.state.swap(READY, Ordering::AcqRel);
        (prev > READY).then_some(prev)
    }

    /// The release step of `wait` (invariant 4): publish `word` if the readiness is EMPTY.
    /// False if readiness came first — the word stays with the caller.
    fn install(&self, word: usize) -> bool {
        self.state
            .compare_exchange(EMPTY, word, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// After a wake-up: take `word` back if nobody swapped it out. True if we did (the
    /// word is ours again, invariant 3).
    fn withdraw(&self, word: usize) -> bool {
        self.state
            .compare_exchange(word, EMPTY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Consumes a pending READY without waiting. True if there was one.
    pub(crate) fn take_ready(&self) -> bool {
        self.state
            .compare_exchange(READY, EMPTY, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Parks the calling green thread until `notify` or `deadline`.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> WaitEnd {
        loop {
            if self.take_ready() {
                return WaitEnd::Ready;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return WaitEnd::TimedOut;
            }
            let me = park::current().into_raw();
            // Woken, timed out, spurious, or unwound while parked (the runtime was
            // dropped): the guard takes our word back if it is still there, so a readiness word never
            // keeps a green thread that is gone (nor, through it, its runtime) alive.
            let _withdraw = Withdraw {
                readiness: self,
                word: me,
            };
            let install = || {
                // Invariant 4.
                if !self.install(me) {
                    // Readiness won the race: do not sleep.
                    // SAFETY: the CAS failed, so the word never left our hands.
                    unsafe { Unparker::from_raw(me) }.unpark();
                }
            };
            match deadline {
                None => park::park(WaitReason::Io, install),
                Some(d) => park::park_until(WaitReason::Io, d, install),
            }
        }
    }
}

/// Takes a waiter's word back out of its readiness when the wait ends, however it ends.
struct Withdraw<'a> {
    readiness: &'a Readiness,
    word: usize,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.readiness.withdraw(self.word) {
            // SAFETY: our CAS removed the word: it is ours again (invariant 3).
            drop(unsafe { Unparker::from_raw(self.word) });
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        let s = self.state.load(Ordering::Acquire);
        if s > READY {
            // SAFETY: nobody else can reach the readiness any more; the waiter word is ours.
            drop(unsafe { Unparker::from_raw(s) });
        }
    }
}

/// loom models of the readiness's transitions (run with `RUSTFLAGS="--cfg loom"`, see
/// `.ci/run`). The waiter's word stands for an `Unparker`; the model counts who converts
/// it back, and parks on a loom `ThreadParker` exactly where `wait` parks.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::primitives::thread_parker::ThreadParker;
    use loom::sync::Arc;
    use loom::thread;

    const ME: usize = 0x40; // any word > READY

    /// `wait` as the green thread runs it, with `park` modelled by a thread parker and the
    /// release step (`install`) run before sleeping. Returns how the wait ended, how many
    /// times the word was published, and how many times the waiter took it back.
    fn waiter(
        readiness: &Readiness,
        parker: &ThreadParker,
        give_up_after_wake: bool,
    ) -> (WaitEnd, usize, usize) {
        let (mut installed, mut withdrawn) = (0, 0);
        loop {
            if readiness.take_ready() {
                return (WaitEnd::Ready, installed, withdrawn);
            }
            if readiness.install(ME) {
                installed += 1;
                parker.park();
            } // else: readiness won, the word never left us; we run on
            if readiness.withdraw(ME) {
                withdrawn += 1;
                if give_up_after_wake {
                    return (WaitEnd::TimedOut, installed, withdrawn);
                }
            }
        }
    }

    fn notifier(readiness: &Readiness, parker: &ThreadParker) -> usize {
        match readiness.set_ready() {
            Some(word) => {
                assert_eq!(word, ME, "only the waiter's word is ever installed");
                parker.unpark();
                1
            }
            None => 0,
        }
    }

    /// Readiness racing a parking waiter: the waiter always wakes (loom reports a
    /// deadlock otherwise), and its word is converted back exactly once per install.
    #[test]
    fn loom_poll_slot_notify_vs_wait() {
        loom::model(|| {
            let readiness = Arc::new(Readiness::new());
            let parker = Arc::new(ThreadParker::new());
            let (s2, p2) = (readiness.clone(), parker.clone());
            let n = thread::spawn(move || notifier(&s2, &p2));
            let (how, installed, withdrawn) = waiter(&readiness, &parker, false);
            let taken_by_notifier = n.join().unwrap();
            assert_eq!(how, WaitEnd::Ready);
            // Invariant 3: every published word is taken back by exactly one party.
            assert_eq!(installed, withdrawn + taken_by_notifier);
            assert_eq!(
                readiness.state.load(Ordering::Acquire),
                EMPTY,
                "READY consumed"
            );
        });
    }

    /// A waiter that gives up after one wake-up (its deadline passed) racing readiness:
    /// either it withdrew its word (timed out; READY may stay pending for the next wait)
    /// or the notifier took the word and the waiter sees READY. Never both, never neither.
    #[test]
    fn loom_poll_slot_timeout_vs_notify() {
        loom::model(|| {
            let readiness = Arc::new(Readiness::new());
            let parker = Arc::new(ThreadParker::new());
            let (s2, p2) = (readiness.clone(), parker.clone());
            let n = thread::spawn(move || notifier(&s2, &p2));
            // The deadline "passes" at the first wake-up: modelled by unparking once.
            parker.unpark();
            let (how, installed, withdrawn) = waiter(&readiness, &parker, true);
            let taken_by_notifier = n.join().unwrap();
            assert_eq!(installed, withdrawn + taken_by_notifier);
            let end = readiness.state.load(Ordering::Acquire);
            match how {
                WaitEnd::TimedOut => assert!(end == EMPTY || end == READY),
                WaitEnd::Ready => assert_eq!(end, EMPTY),
            }
            assert!(
                end <= READY,
                "no word left behind: {end:#x} ({taken_by_notifier})"
            );
        });
    }
}
