//! loom models of the parking protocol (run with `RUSTFLAGS="--cfg loom"`, see `.ci/run`).
//!
//! loom cannot follow a stack switch, so the green-thread form is modelled the way the
//! worker executes it: the parked party's last act is `commit()` (run by the worker after
//! the switch), and whoever sees `Commit::Notified` or `Notify::MustWake` "requeues" it.

use super::park_state::{Commit, Notify, ParkState};
use super::thread_parker::ThreadParker;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// An OS thread waiting for a flag never misses the wake-up, whatever the interleaving
/// (loom reports a deadlock if the parker could sleep forever).
#[test]
fn loom_thread_park_unpark_no_lost_wakeup() {
    loom::model(|| {
        let parker = Arc::new(ThreadParker::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (p2, f2) = (parker.clone(), flag.clone());
        let waker = thread::spawn(move || {
            f2.store(true, Ordering::Release);
            p2.unpark();
        });
        while !flag.load(Ordering::Acquire) {
            parker.park();
        }
        waker.join().unwrap();
    });
}

/// Two wakers racing for one parked thread: it wakes, and no waker blocks.
#[test]
fn loom_thread_two_wakers() {
    loom::model(|| {
        let parker = Arc::new(ThreadParker::new());
        let count = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..2 {
            let (p, c) = (parker.clone(), count.clone());
            hs.push(thread::spawn(move || {
                c.fetch_add(1, Ordering::Release);
                p.unpark();
            }));
        }
        while count.load(Ordering::Acquire) < 2 {
            parker.park();
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Green-thread form: a G registered itself, then its worker commits the park while a
/// waker notifies. Exactly one side requeues the G: never zero (lost wake-up), never two
/// (the G would run on two workers at once).
#[test]
fn loom_green_commit_vs_notify_requeues_once() {
    loom::model(|| {
        let state = Arc::new(ParkState::new());
        let requeued = Arc::new(AtomicUsize::new(0));
        let (s2, r2) = (state.clone(), requeued.clone());
        let waker = thread::spawn(move || {
            if s2.notify() == Notify::MustWake {
                r2.fetch_add(1, Ordering::Relaxed);
            }
        });
        if state.commit() == Commit::Notified {
            requeued.fetch_add(1, Ordering::Relaxed);
        }
        waker.join().unwrap();
        assert_eq!(requeued.load(Ordering::Relaxed), 1);
    });
}

/// Two wakers and a committing worker: still exactly one requeue; the other waker's
/// token coalesces (or is left for the G's next park, which then returns spuriously).
#[test]
fn loom_green_two_wakers_requeue_once() {
    loom::model(|| {
        let state = Arc::new(ParkState::new());
        let requeued = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..2 {
            let (s, r) = (state.clone(), requeued.clone());
            hs.push(thread::spawn(move || {
                if s.notify() == Notify::MustWake {
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        if state.commit() == Commit::Notified {
            requeued.fetch_add(1, Ordering::Relaxed);
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(requeued.load(Ordering::Relaxed), 1);
    });
}

/// sysmon compacting a parked G's stack (`stacks/compact.rs`) while a waker notifies it:
/// exactly one party requeues the G, and whoever resumes it sees the stack as sysmon left
/// it (restoring it if compacted) — loom's `UnsafeCell` reports any unordered access.
#[test]
fn loom_green_hold_vs_notify_requeues_once_with_the_stack_in_place() {
    use loom::cell::UnsafeCell;
    /// The stack's live word: 7 in place, 0 while out (the saved copy holds it).
    struct Stack {
        word: UnsafeCell<usize>,
        saved: UnsafeCell<usize>,
    }
    fn resume(state: &ParkState, stack: &Stack) {
        if state.is_compacted() {
            let restore = |w: *mut usize| {
                // SAFETY: the resumer owns the G; the hold's release ordered sysmon's
                // writes before the requeue it observed (loom checks exactly this).
                stack.saved.with(|s| unsafe { *w = *s })
            };
            stack.word.with_mut(restore);
            state.clear_compacted();
        }
        // SAFETY: as above, the resumer owns the G.
        let word = stack.word.with(|w| unsafe { *w });
        assert_eq!(word, 7, "ran with its stack out");
    }
    loom::model(|| {
        let state = Arc::new(ParkState::new());
        let stack = Arc::new(Stack {
            word: UnsafeCell::new(7),
            saved: UnsafeCell::new(0),
        });
        let requeued = Arc::new(AtomicUsize::new(0));
        // The G parks first (its worker commits), then sysmon and a waker race.
        assert_eq!(state.commit(), Commit::Parked);
        let (s2, k2, r2) = (state.clone(), stack.clone(), requeued.clone());
        let sysmon = thread::spawn(move || {
            if s2.hold() {
                // SAFETY: sysmon holds the park word: nobody resumes the G meanwhile.
                k2.saved
                    .with_mut(|s| k2.word.with_mut(|w| unsafe { (*s, *w) = (*w, 0) }));
                if s2.unhold(true) {
                    r2.fetch_add(1, Ordering::Relaxed);
                    resume(&s2, &k2);
                }
            }
        });
        let (s3, k3, r3) = (state.clone(), stack.clone(), requeued.clone());
        let waker = thread::spawn(move || {
            if s3.notify() == Notify::MustWake {
                r3.fetch_add(1, Ordering::Relaxed);
                resume(&s3, &k3);
            }
        });
        sysmon.join().unwrap();
        waker.join().unwrap();
        assert_eq!(requeued.load(Ordering::Relaxed), 1);
    });
}
