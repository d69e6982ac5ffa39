//! `JoinHandle<T>`: the result slot of one green thread and the wake-up of its joiner.
//!
//! # Protocol (`status`)
//! ```text
//!   RUNNING ──join registers its waiter──▶ WAITING ──complete──▶ DONE (+ unpark waiter)
//!      └───────────────────────complete──────────────────────────▶ DONE
//! ```
//! * The green thread writes `result` before `complete` (release); the joiner reads it only
//!   after seeing `DONE` (acquire).
//! * The joiner writes `waiter` only while `RUNNING`, then publishes it with the CAS to
//!   `WAITING`; `complete` reads it only if its swap returned `WAITING`. So the two never
//!   touch a cell at the same time.
//! * The scheduler calls `complete` after the green thread left the registry, so
//!   `num_goroutines()` no longer counts a green thread whose join has returned.

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::g::Completion;
use crate::park::{self, Unparker, WaitReason};

const RUNNING: usize = 0;
const WAITING: usize = 1;
const DONE: usize = 2;

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
            status: AtomicUsize::new(RUNNING),
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

    fn finish(&self) {
        // AcqRel: release `result` to the joiner; acquire the joiner's `waiter`.
        if self.status.swap(DONE, Ordering::AcqRel) == WAITING {
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
        JoinHandle { state, id }
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
        if s.status.load(Ordering::Acquire) != DONE {
            let me = park::current();
            let watcher = monitor.map(|m| (m, me.clone()));
            // SAFETY: status is RUNNING (or DONE, then `complete` ignores `waiter`); only
            // the joiner — us, the single handle owner — writes it.
            unsafe { *s.waiter.get() = Some(me) };
            // AcqRel: publish `waiter`; on failure acquire `result`.
            if s.status
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if let Some((m, me)) = &watcher {
                    if let Some(verdict) = m.watch(me.clone()) {
                        return Err(verdict);
                    }
                }
                while s.status.load(Ordering::Acquire) != DONE {
                    match &watcher {
                        None => park::park(WaitReason::Join, || {}),
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
        // SAFETY: DONE: the green thread wrote `result` and will not touch it again.
        Ok(unsafe { (*s.result.get()).take() }.expect("goro: join result taken twice"))
    }

    /// True once the green thread has finished (`join` will not block).
    pub fn is_finished(&self) -> bool {
        self.state.status.load(Ordering::Acquire) == DONE
    }

    /// The green thread's id (as shown by diagnostics).
    pub fn id(&self) -> u64 {
        self.id
    }
}
