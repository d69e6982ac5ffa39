//! `WaitGroup`: Go's `sync.WaitGroup`: a counter; `wait` parks until it reaches zero.
//!
//! # Invariants
//! 1. `count` changes only by atomic read-modify-write; the `done` that takes it from 1 to
//!    0 then drains `waiters` under its lock and grants each one.
//! 2. `wait` checks `count` under `waiters`' lock before enqueueing, so it either sees
//!    zero or is enqueued before the draining `done` takes the lock (no lost wake-up).
//! 3. A waiter is released by its own `granted` flag, not by re-reading `count`: a group
//!    reused (count raised again) right after reaching zero still releases every party
//!    that was waiting for that zero.
//!
//! # Lock order
//! `waiters` is a leaf lock.

use crate::lock::Mutex;
use crate::park::WaitReason;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::bubble_tag::BubbleTag;
use super::waiter::{grant_all, Waiter, WaiterList};

/// Waits for a collection of green threads to finish (Go's `sync.WaitGroup`).
///
/// Clones share the counter, so a clone moves into each green thread.
///
/// ```
/// goro_runtime::run(|| {
///     let wg = goro_runtime::sync::WaitGroup::new();
///     let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
///     for _ in 0..10 {
///         wg.add(1);
///         let (wg, done) = (wg.clone(), done.clone());
///         goro_runtime::go(move || {
///             done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///             wg.done();
///         });
///     }
///     wg.wait();
///     assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 10);
/// });
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    count: AtomicUsize,
    waiters: Mutex<Vec<Arc<Waiter>>>,
    /// The synctest bubble it is used in (`bubble_tag.rs`).
    bubble: BubbleTag,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            count: AtomicUsize::new(0),
            waiters: Mutex::default(),
            bubble: BubbleTag::new(),
        }
    }
}

impl WaitGroup {
    /// A wait group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `n` to the counter (call before starting the work it counts).
    ///
    /// # Panics
    /// If the counter would overflow `usize`.
    pub fn add(&self, n: usize) {
        self.inner.bubble.touch();
        let prev = self.inner.count.fetch_add(n, Ordering::AcqRel);
        if prev.checked_add(n).is_none() {
            self.inner.count.fetch_sub(n, Ordering::AcqRel);
            panic!("sync: WaitGroup counter overflow");
        }
    }

    /// Subtracts one from the counter, releasing the waiters when it reaches zero.
    ///
    /// # Panics
    /// With Go's message `sync: negative WaitGroup counter` if the counter is already zero
    /// (more `done`s than `add`s). The counter is left at zero.
    #[track_caller]
    pub fn done(&self) {
        self.inner.bubble.touch();
        let prev = self.inner.count.fetch_sub(1, Ordering::AcqRel);
        if prev == 0 {
            self.inner.count.fetch_add(1, Ordering::AcqRel);
            panic!("sync: negative WaitGroup counter");
        }
        if prev == 1 {
            let waiters = std::mem::take(&mut *self.inner.waiters.lock());
            grant_all(waiters);
        }
    }

    /// Parks until the counter is zero (returns at once if it is).
    pub fn wait(&self) {
        if self.inner.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut waiters = self.inner.waiters.lock();
        if self.inner.count.load(Ordering::Acquire) == 0 {
            return; // invariant 2
        }
        let here = self.inner.bubble.touch();
        let outside = self.inner.bubble.is_outside(here);
        let me = Waiter::new_tagged(WaitReason::WaitGroupWait, self, outside);
        waiters.push(me.clone());
        me.wait(waiters, || {
            self.inner.waiters.lock().remove_waiter(&me);
        });
    }

    /// Runs `f` in a new green thread counted by this group (Go 1.25's `WaitGroup.Go`):
    /// `add(1)` now, `done()` when `f` returns or panics.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// goro_runtime::run(|| {
    ///     let (wg, sum) = (goro_runtime::sync::WaitGroup::new(), Arc::new(AtomicUsize::new(0)));
    ///     for i in 1..=10 {
    ///         let sum = sum.clone();
    ///         wg.go(move || {
    ///             sum.fetch_add(i, SeqCst);
    ///         });
    ///     }
    ///     wg.wait();
    ///     assert_eq!(sum.load(SeqCst), 55);
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a goro runtime, as [`go`](crate::go).
    pub fn go(&self, f: impl FnOnce() + Send + 'static) {
        /// Calls `done` however the green thread ends.
        struct Done(WaitGroup);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        self.add(1);
        let done = Done(self.clone());
        drop(crate::go(move || {
            let _done = done;
            f();
        }));
    }

    /// The counter right now (racy: for diagnostics).
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "sync: negative WaitGroup counter")]
    fn negative_counter_panics() {
        WaitGroup::new().done();
    }

    #[test]
    fn os_threads_wait() {
        let wg = WaitGroup::new();
        wg.add(3);
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let wg = wg.clone();
                std::thread::spawn(move || wg.done())
            })
            .collect();
        wg.wait();
        assert_eq!(wg.count(), 0);
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
}
