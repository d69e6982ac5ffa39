//! `RwLock<T>`: Go's `sync.RWMutex` holding its data: many readers or one writer,
//! writer-preferring, parking green threads.
//!
//! # Invariants (all fields of `State` are guarded by `state`'s lock)
//! 1. `writer` ⇒ `readers == 0`. Guards exist exactly as counted by `readers`/`writer`.
//! 2. Writer preference: a new reader queues if a writer holds the lock *or waits*
//!    (`!writers.is_empty()`), so a stream of readers cannot starve writers.
//! 3. Readers are not starved either: when a writer unlocks, every reader queued at that
//!    moment is admitted as one batch before the next writer (Go's `readerWait` batches).
//! 4. A queued party is granted only after the counts were updated on its behalf; it owns
//!    its access when woken.
//!
//! # Lock order
//! `state` is a leaf lock; grants are sent after it is released.
//!
//! The state lives under a short internal lock rather than in a lock-free word: an
//! uncontended `read` costs two uncontended lock round trips (tens of nanoseconds).

use crate::lock::Mutex;
use crate::park::{LockHolder, WaitReason};
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::waiter::{grant_all, stack_marker, Waiter, WaiterList};

/// A reader-writer lock protecting a `T` (Go's `sync.RWMutex`). Waiting parks the green
/// thread (an OS thread blocks). Writer-preferring, with reader batches so neither side
/// starves. A panic while a guard is held unlocks and poisons nothing.
///
/// ```
/// goro_runtime::run(|| {
///     let config = std::sync::Arc::new(goro_runtime::sync::RwLock::new(String::from("v1")));
///     let reader = { let c = config.clone(); goro_runtime::go(move || c.read().len()) };
///     config.write().push_str("-patched");
///     assert!(reader.join().unwrap() >= 2);
///     assert_eq!(*config.read(), "v1-patched");
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    state: Mutex<State>,
    data: UnsafeCell<T>,
}

#[derive(Default)]
struct State {
    readers: usize,
    writer: bool,
    /// While `writer`: an address on the writer's stack (`stack_marker`), for `dump`.
    writer_id: u64,
    waiting_readers: Vec<Arc<Waiter>>,
    waiting_writers: VecDeque<Arc<Waiter>>,
}

impl State {
    /// Who holds the lock, for a waiter's record (`dump`).
    fn holder(&self) -> Option<LockHolder> {
        if self.writer {
            (self.writer_id != 0).then_some(LockHolder::Stack(self.writer_id))
        } else {
            (self.readers != 0).then_some(LockHolder::Readers(self.readers))
        }
    }
}

// SAFETY: like `std::sync::RwLock`: writers get exclusive access (needs `T: Send` to move
// it between threads), readers shared access from several threads at once (needs `T: Sync`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Sched access to an [`RwLock`]'s data; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

/// Exclusive access to an [`RwLock`]'s data; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            state: Mutex::new(State {
                readers: 0,
                writer: false,
                writer_id: 0,
                waiting_readers: Vec::new(),
                waiting_writers: VecDeque::new(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Sched access, parking while a writer holds or waits for the lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let mut st = self.state.lock();
        if !st.writer && st.waiting_writers.is_empty() {
            st.readers += 1;
        } else {
            let me = Waiter::new_held(WaitReason::RwLockRead, self, st.holder());
            st.waiting_readers.push(me.clone());
            // Invariant 4: counted as a reader when granted.
            me.wait(st, || {
                let mut st = self.state.lock();
                if !st.waiting_readers.remove_waiter(&me) {
                    drop(st);
                    self.read_unlock();
                }
            });
        }
        self.read_guard()
    }

    /// Sched access if available right now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut st = self.state.lock();
        if st.writer || !st.waiting_writers.is_empty() {
            return None;
        }
        st.readers += 1;
        Some(self.read_guard())
    }

    /// Exclusive access, parking while readers or another writer hold the lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let mut st = self.state.lock();
        if !st.writer && st.readers == 0 {
            st.writer = true;
            st.writer_id = stack_marker();
        } else {
            let me = Waiter::new_held(WaitReason::RwLockWrite, self, st.holder());
            st.waiting_writers.push_back(me.clone());
            // Invariant 4: `writer` set for us when granted.
            me.wait(st, || {
                let mut st = self.state.lock();
                if st.waiting_writers.remove_waiter(&me) {
                    // Readers may be queued behind us only (writer preference).
                    if !st.writer && st.waiting_writers.is_empty() {
                        let batch = std::mem::take(&mut st.waiting_readers);
                        st.readers += batch.len();
                        drop(st);
                        grant_all(batch);
                    }
                } else {
                    drop(st);
                    self.write_unlock();
                }
            });
        }
        self.write_guard()
    }

    /// Exclusive access if available right now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut st = self.state.lock();
        if st.writer || st.readers != 0 {
            return None;
        }
        st.writer = true;
        st.writer_id = stack_marker();
        Some(self.write_guard())
    }

    /// The data, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    fn read_unlock(&self) {
        let mut st = self.state.lock();
        st.readers -= 1;
        if st.readers == 0 {
            if let Some(w) = st.waiting_writers.pop_front() {
                st.writer = true;
                st.writer_id = w.party;
                drop(st);
                w.grant();
            }
        }
    }

    fn write_unlock(&self) {
        let mut st = self.state.lock();
        st.writer = false;
        st.writer_id = 0;
        if !st.waiting_readers.is_empty() {
            // Invariant 3: admit the whole batch of readers that queued behind us.
            let batch = std::mem::take(&mut st.waiting_readers);
            st.readers = batch.len();
            drop(st);
            grant_all(batch);
        } else if let Some(w) = st.waiting_writers.pop_front() {
            st.writer = true;
            st.writer_id = w.party;
            drop(st);
            w.grant();
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard is counted in `readers`, so no writer exists (invariant 1).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard means `writer` is set: no other guard exists (invariant 1).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_share_writer_excludes() {
        let l = RwLock::new(1);
        let r1 = l.read();
        let r2 = l.try_read().unwrap();
        assert!(l.try_write().is_none());
        drop((r1, r2));
        let w = l.try_write().unwrap();
        assert!(l.try_read().is_none());
        drop(w);
        *l.write() += 1;
        assert_eq!(l.into_inner(), 2);
    }
}
