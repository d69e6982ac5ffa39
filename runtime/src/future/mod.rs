//! The async bridge: run a future to completion from a green thread (`block_on`), and
//! await goro from async code (`JoinHandle` and channel operations are futures).
//!
//! # Why it is cheap
//! A future is polled by the party that waits for it. Its `Waker` is an [`Unparker`]
//! (`waker.rs`), so a wake-up from any thread — tokio's reactor, a timer, another green
//! thread — is the same `unpark` a channel send makes: the green thread goes to the
//! waking worker's `runnext` slot, or to its runtime's queue from a foreign thread. No
//! thread is blocked and no executor is involved: the green thread *is* the executor of
//! its one future, on its own stack.
//!
//! # The protocol (`block_on`)
//! ```text
//!   loop: poll(fut, waker) ── Ready(v) ──▶ return v
//!              │ Pending
//!              ▼
//!         park (Future)  ◀── waker.wake() from any thread, before or after the park
//! ```
//! 1. The future stores the waker (or a clone) where its event will find it *before*
//!    returning `Pending` (the `Future` contract).
//! 2. A `wake` that comes before `park` commits leaves a token (`primitives/park_state.rs`),
//!    so `park` returns at once and the future is polled again: no wake-up is lost.
//! 3. Every return from `park` polls again: a spurious one (a stale token) costs one poll,
//!    which the `Future` contract allows; it never returns without `Ready`.
//!
//! Checked by `loom_block_on_*` below (an OS thread parks with the same state machine as a
//! green thread).
//!
//! # Deadlock verdicts
//! A green thread parked here can be woken by anything, including threads and reactors
//! goro knows nothing about, so while one is parked here no deadlock is pronounced
//! ([`parked_in_block_on`], read by sysmon).
//!
//! # tokio (`tokio` feature)
//! With the feature on, every worker thread enters a tokio runtime's context for its whole
//! life (`tokio.rs`), so futures that need tokio's reactor, timers or `spawn` work in
//! green threads — also ones created before `block_on` is called.

mod waker;

#[cfg(all(feature = "tokio", not(loom)))]
pub(crate) mod tokio;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::park::{self, WaitReason};

pub(crate) use waker::waker_of;

/// A count for sysmon, not part of a modelled protocol: plain `std` atomics, also under
/// loom (where no green thread ever parks).
static PARKED_IN_BLOCK_ON: AtomicUsize = AtomicUsize::new(0);

/// Runs `future` to completion on the caller and returns its output.
///
/// In a green thread it parks only that green thread between polls; the future's `Waker`
/// unparks it from any thread. On a plain OS thread it blocks the thread. A panic inside
/// the future propagates out of `block_on`, as a panic in the green thread.
///
/// With the `tokio` feature, tokio-based futures (`tokio::net`, `tokio::time`, reqwest,
/// tonic) work here: green threads run inside a tokio runtime's context — the one that was
/// current where the goro runtime was built (`#[tokio::main]`), the one given to
/// `Builder::tokio_handle`, or else one goro hosts on a thread of its own.
///
/// ```
/// let v = goro_runtime::run(|| goro_runtime::block_on(async { 40 + 2 }));
/// assert_eq!(v, 42);
/// ```
///
/// Do not call it from inside an async task: it would block that task's executor thread.
/// Await the future there instead.
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(all(feature = "tokio", not(loom)))]
    let _tokio = tokio::enter_on_os_thread();
    let mut future = pin!(future);
    let waker = waker_of(park::current());
    let mut cx = Context::from_waker(&waker);
    let mut counted = None;
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        if counted.is_none() && park::in_green_thread() {
            counted = Some(ParkedInBlockOn::enter());
        }
        park::park(WaitReason::Future, || {});
    }
}

/// Green threads parked in [`block_on`] now, in every runtime of the process: each may be
/// woken by a thread goro does not know, so none of them is deadlocked for certain.
pub(crate) fn parked_in_block_on() -> usize {
    PARKED_IN_BLOCK_ON.load(Ordering::SeqCst)
}

/// Counts the calling green thread in `PARKED_IN_BLOCK_ON` while alive (also if the
/// future panics, or the green thread is unwound by shutdown).
struct ParkedInBlockOn;

impl ParkedInBlockOn {
    fn enter() -> ParkedInBlockOn {
        // SeqCst: ordered before the park that sysmon's verdict sees (as `OS_WAITERS`).
        PARKED_IN_BLOCK_ON.fetch_add(1, Ordering::SeqCst);
        ParkedInBlockOn
    }
}

impl Drop for ParkedInBlockOn {
    fn drop(&mut self) {
        PARKED_IN_BLOCK_ON.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Waker;
    use std::time::Duration;

    /// Ready after `n` polls, waking itself from another thread each time.
    struct WokenFromThread {
        left: usize,
    }

    impl Future for WokenFromThread {
        type Output = usize;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if self.left == 0 {
                return Poll::Ready(7);
            }
            self.left -= 1;
            let w = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                w.wake();
            });
            Poll::Pending
        }
    }

    #[test]
    fn ready_at_once_on_an_os_thread() {
        assert_eq!(block_on(async { 5 }), 5);
    }

    #[test]
    fn woken_from_other_threads_in_a_green_thread_and_on_an_os_thread() {
        assert_eq!(block_on(WokenFromThread { left: 3 }), 7);
        let rt = crate::Runtime::builder().workers(1).build().unwrap();
        let v = rt.block_on(|| {
            let h = crate::go(|| block_on(WokenFromThread { left: 5 }));
            // The worker stays free while the future waits: this one runs meanwhile.
            let other = crate::go(|| 1).join().unwrap();
            h.join().unwrap() + other
        });
        assert_eq!(v, 8);
        assert_eq!(parked_in_block_on(), 0);
    }

    #[test]
    fn a_waker_kept_after_completion_is_harmless() {
        let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
        let k = kept.clone();
        crate::run(move || {
            block_on(std::future::poll_fn(|cx| {
                *k.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            }));
            crate::sleep(Duration::from_millis(1));
        });
        kept.lock().unwrap().take().unwrap().wake(); // the green thread is long gone
    }

    #[test]
    fn a_panic_in_the_future_propagates_to_the_green_thread() {
        let r = crate::run(|| {
            crate::go(|| block_on(async { panic!("boom in a future") }))
                .join()
                .unwrap_err()
        });
        assert_eq!(r.downcast_ref::<&str>(), Some(&"boom in a future"));
        assert_eq!(parked_in_block_on(), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::{Arc, Mutex};
    use loom::thread;
    use std::task::Waker;

    /// The event of a future: a flag and the waker to call once it is set.
    #[derive(Default)]
    struct Event {
        set: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    impl Event {
        fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // Re-check after registering: the setter may have looked before we stored.
            if self.set.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            Poll::Pending
        }

        fn fire(&self, times: usize) {
            self.set.store(true, Ordering::Release);
            let w = self.waker.lock().unwrap().take();
            if let Some(w) = w {
                for _ in 1..times {
                    w.wake_by_ref();
                }
                w.wake();
            }
        }
    }

    /// A wake from another thread, racing the poll and the park: `block_on` always
    /// returns (a lost wake-up would leave it parked: loom reports the deadlock).
    #[test]
    fn loom_block_on_wake_from_another_thread_is_never_lost() {
        loom::model(|| {
            let ev = Arc::new(Event::default());
            let e = ev.clone();
            let t = thread::spawn(move || e.fire(1));
            block_on(std::future::poll_fn(|cx| ev.poll(cx)));
            t.join().unwrap();
        });
    }

    /// Repeated wakes (`wake_by_ref` then `wake`) coalesce into tokens; a second
    /// `block_on` after them still waits for its own event.
    #[test]
    fn loom_block_on_repeated_wakes_coalesce() {
        loom::model(|| {
            let (a, b) = (Arc::new(Event::default()), Arc::new(Event::default()));
            let (a2, b2) = (a.clone(), b.clone());
            let t = thread::spawn(move || {
                a2.fire(2);
                b2.fire(1);
            });
            block_on(std::future::poll_fn(|cx| a.poll(cx)));
            block_on(std::future::poll_fn(|cx| b.poll(cx)));
            assert!(b.set.load(Ordering::Acquire));
            t.join().unwrap();
        });
    }
}
