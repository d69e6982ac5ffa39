//! `JoinHandle<T>`: the result slot of one green thread and the wake-up of its joiner.
//!
//! # Protocol (`status`, three independent bits)
//! ```text
//!   0 ──join registers its waiter──▶ WAITING ──complete──▶ WAITING|DONE (+ unpark waiter)
//!   └──────────────────────complete────────────────────────▶ DONE
//!   any ──the handle is dropped──▶ +GONE
//! ```
//! * The green thread writes `result` before `complete` sets `DONE` (release); the joiner
//!   reads it only after seeing `DONE` (acquire).
//! * The joiner writes `waiter` only while the status is 0, then publishes it with the
//!   CAS to `WAITING`; `complete` reads it only if its `fetch_or` returned `WAITING`. So
//!   the two never touch a cell at the same time.
//! * A detached green thread's result is dropped as soon as it exists, as a finished
//!   `std::thread`'s is: whichever of `complete` and the handle's drop sets its bit second
//!   (`DONE` seeing `GONE`, or `GONE` seeing `DONE`) takes the result out and drops it. The
//!   slot itself may live on: the scheduler keeps the G's reference until the G is reused
//!   (`worker::finish`), so the allocation is freed by the next spawn on that G, usually
//!   on the thread that made it, and not by the worker that ran the green thread.
//! * The scheduler calls `complete` after counting the green thread out, so
//!   `num_goroutines()` no longer counts a green thread whose join has returned.

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::Arc;

use crate::loom::{AtomicUsize, Ordering};

use crate::g::Completion;
use crate::park::{self, Unparker, WaitReason};

/// The joiner has published its `waiter` and parks.
const WAITING: usize = 1;
/// The green thread finished; `result` is written.
const DONE: usize = 2;
/// The handle was dropped (the green thread is detached) or consumed by `join`.
const GONE: usize = 4;

/// Message carried by the `Err` of a join whose green thread was unwound by shutdown.
pub const SHUTDOWN_PAYLOAD: &str =
    "goro: the green thread was unwound because its runtime shut down before it finished";

pub(crate) struct JoinState<T> {
    status: AtomicUsize,
    result: UnsafeCell<Option<std::thread::Result<T>>>,
    waiter: UnsafeCell<Option<Unparker>>,
}

// SAFETY: the cells are handed between the green thread and the joiner by the `status`
// protocol (module docs); the value crossing threads is a `T: Send`.
unsafe impl<T: Send> Send for JoinState<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for JoinState<T> {}

impl<T> JoinState<T> {
    pub(crate) fn new() -> JoinState<T> {
        JoinState {
            status: AtomicUsize::new(0),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Stores the green thread's result.
    ///
    /// # Safety
    /// Called once, by the green thread itself, before `complete`.
    pub(crate) unsafe fn set(&self, r: std::thread::Result<T>) {
        // SAFETY: the joiner reads `result` only after DONE, which comes later.
        unsafe { *self.result.get() = Some(r) };
    }

    /// Publishes `waiter` as the one to wake at completion, replacing one published
    /// before (a `JoinHandle` polled as a future again, maybe by another task). False if
    /// the green thread has already finished (nothing is registered).
    ///
    /// Only the handle's owner calls it. To replace a published waiter it first takes
    /// `WAITING` back (`WAITING → 0`): from then on `finish` will not read `waiter`, so the
    /// cell is ours to write until the CAS `0 → WAITING` publishes it again.
    fn register(&self, waiter: Unparker) -> bool {
        if self
            .status
            .compare_exchange(WAITING, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
            && self.status.load(Ordering::Acquire) & DONE != 0
        {
            return false;
        }
        // SAFETY: status is 0 here (or DONE, set since; then `finish` ignores `waiter`):
        // no `finish` reads the cell, and only the owner writes it.
        unsafe { *self.waiter.get() = Some(waiter) };
        // AcqRel: publish `waiter`; on failure (DONE) acquire `result`.
        self.status
            .compare_exchange(0, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The result, once `DONE` was seen (acquire).
    fn take_result(&self) -> std::thread::Result<T> {
        // SAFETY: DONE: the green thread wrote `result` and will not touch it again; only
        // the handle's owner takes it, once.
        unsafe { (*self.result.get()).take() }
            .expect("goro: join result taken twice (a JoinHandle polled after it completed?)")
    }

    fn finish(&self) {
        // AcqRel: release `result` to the joiner; acquire the joiner's `waiter`, or the
        // handle's drop.
        let prev = self.status.fetch_or(DONE, Ordering::AcqRel);
        if prev & GONE != 0 {
            // SAFETY: the handle is gone and saw no DONE: nobody else will read `result`.
            drop(unsafe { (*self.result.get()).take() });
        }
        if prev & WAITING != 0 {
            // SAFETY: WAITING means the joiner published `waiter` and will not touch it again.
            if let Some(w) = unsafe { (*self.waiter.get()).take() } {
                w.unpark();
            }
        }
    }
}

impl<T: Send> Completion for JoinState<T> {
    fn complete(&self) {
        self.finish();
    }

    fn cancel(&self) {
        // SAFETY: the green thread was unwound, so it never called `set` and never will;
        // the joiner waits for DONE before reading.
        unsafe {
            let slot = &mut *self.result.get();
            if slot.is_none() {
                *slot = Some(Err(Box::new(SHUTDOWN_PAYLOAD) as Box<dyn Any + Send>));
            }
        }
        self.finish();
    }
}

/// An owned permission to wait for a green thread and take its result.
///
/// Dropping the handle detaches the green thread (it keeps running). `join` works from a
/// green thread (parks it) and from a plain OS thread (blocks it).
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
    id: u64,
    /// The synctest bubble the green thread runs in (0: none): a join from inside that
    /// bubble is durable there, any other is not (`synctest.rs`).
    bubble: u64,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(state: Arc<JoinState<T>>, id: u64) -> JoinHandle<T> {
        JoinHandle {
            state,
            id,
            bubble: 0,
        }
    }

    /// The handle of a green thread of the synctest bubble `bubble` (0: none).
    pub(crate) fn in_bubble(mut self, bubble: u64) -> JoinHandle<T> {
        self.bubble = bubble;
        self
    }

    /// Waits for the green thread and returns its result: `Err(payload)` if it panicked
    /// (or was unwound because its runtime shut down first).
    pub fn join(self) -> std::thread::Result<T> {
        match self.wait(None) {
            Ok(r) => r,
            Err(_) => unreachable!("no monitor, no deadlock verdict"),
        }
    }

    /// `join` for `block_on`: also returns (with the report) if sysmon declares the runtime
    /// deadlocked while we wait. Parks uncounted (`sysmon.rs`, invariant 2).
    pub(crate) fn join_watching(
        self,
        monitor: &crate::sysmon::Monitor,
    ) -> Result<std::thread::Result<T>, Arc<str>> {
        self.wait(Some(monitor))
    }

    fn wait(
        self,
        monitor: Option<&crate::sysmon::Monitor>,
    ) -> Result<std::thread::Result<T>, Arc<str>> {
        let s = &*self.state;
        if s.status.load(Ordering::Acquire) & DONE == 0 {
            let me = park::current();
            let watcher = monitor.map(|m| (m, me.clone()));
            if s.register(me) {
                if let Some((m, me)) = &watcher {
                    if let Some(verdict) = m.watch(me.clone()) {
                        return Err(verdict);
                    }
                }
                while s.status.load(Ordering::Acquire) & DONE == 0 {
                    match &watcher {
                        None => {
                            let outside = self.bubble != crate::driver::current_bubble();
                            let on = park::WaitingOn::reason(WaitReason::Join);
                            park::park_on(on.outside_bubble(outside), || {});
                        }
                        Some((m, _)) => {
                            if let Some(verdict) = m.verdict() {
                                return Err(verdict);
                            }
                            park::park_watcher(WaitReason::Join);
                        }
                    }
                }
                if let Some((m, me)) = &watcher {
                    m.unwatch(me);
                }
            }
        }
        Ok(s.take_result())
    }

    /// True once the green thread has finished (`join` will not block).
    pub fn is_finished(&self) -> bool {
        self.state.status.load(Ordering::Acquire) & DONE != 0
    }

    /// The green thread's id (as shown by diagnostics).
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Awaiting a `JoinHandle` from async code waits for the green thread without blocking
/// the executor's thread: the task's `Waker` is what the green thread's completion wakes.
/// The output is what [`join`](JoinHandle::join) returns. Dropping the future (the handle)
/// detaches the green thread, as dropping the handle does. Polling again after `Ready`
/// panics.
impl<T> std::future::Future for JoinHandle<T> {
    type Output = std::thread::Result<T>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let s = &*self.state;
        if s.status.load(Ordering::Acquire) & DONE == 0
            && s.register(Unparker::from_waker(cx.waker().clone()))
        {
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(s.take_result())
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the green thread; its result, once it exists, is dropped at once (module
    /// docs) rather than with the slot.
    fn drop(&mut self) {
        let s = &*self.state;
        // AcqRel: acquire `result` if DONE is set; release our GONE to `complete`.
        if s.status.fetch_or(GONE, Ordering::AcqRel) & DONE != 0 {
            // SAFETY: DONE: the green thread will not touch `result` again, and `complete`
            // saw no GONE, so it left `result` to us.
            drop(unsafe { (*s.result.get()).take() });
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A detached green thread's result is dropped exactly once, by whichever of its
    /// completion and its handle's drop comes second, even though the slot itself lives
    /// on (the pooled G's reference, here `state`).
    #[test]
    fn loom_join_detach_races_completion_drops_result_once() {
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let state = Arc::new(JoinState::<Counted>::new());
            let handle = JoinHandle::new(state.clone(), 1);
            let green = {
                let (state, drops) = (state.clone(), drops.clone());
                thread::spawn(move || {
                    // SAFETY: the green thread's one store, before completion.
                    unsafe { state.set(Ok(Counted(drops))) };
                    state.complete();
                })
            };
            drop(handle);
            green.join().unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            drop(state);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    /// A handle polled as a future twice (the second poll replaces the first waker)
    /// while the green thread completes: the second waker is woken or the poll sees the
    /// result — never a lost wake-up (the model would park forever), never a result read
    /// before it is written.
    #[test]
    fn loom_join_future_reregisters_without_losing_the_wakeup() {
        use std::future::Future;
        use std::task::{Context, Poll};
        loom::model(|| {
            let state = Arc::new(JoinState::<u32>::new());
            let mut handle = JoinHandle::new(state.clone(), 1);
            let green = thread::spawn(move || {
                // SAFETY: the green thread's one store, before completion.
                unsafe { state.set(Ok(5)) };
                state.complete();
            });
            // The first waker wakes nobody: only the second registration can wake us.
            let first = std::task::Waker::noop();
            let polled = std::pin::Pin::new(&mut handle).poll(&mut Context::from_waker(first));
            let second = crate::future::waker_of(park::current());
            let mut cx = Context::from_waker(&second);
            let v = if let Poll::Ready(r) = polled {
                r.unwrap()
            } else {
                loop {
                    match std::pin::Pin::new(&mut handle).poll(&mut cx) {
                        Poll::Ready(r) => break r.unwrap(),
                        Poll::Pending => park::park(WaitReason::Join, || {}),
                    }
                }
            };
            assert_eq!(v, 5);
            green.join().unwrap();
        });
    }
}
