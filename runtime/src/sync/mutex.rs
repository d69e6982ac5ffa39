//! `Mutex<T>`: Go's `sync.Mutex` holding its data, parking green threads (not workers).
//!
//! The lock is a [`Sema`] with one permit: the permit free means unlocked. Uncontended,
//! `lock` and unlock are one compare-and-swap and one `fetch_add` (plus a load). Under
//! contention a locker spins briefly, then parks in FIFO order and is handed the lock by
//! the unlocker (see `sema.rs`).
//!
//! # Invariant
//! A `MutexGuard` exists exactly while the permit is held; `data` is accessed only through
//! a guard (or `&mut self`).

use crate::park::WaitReason;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::sema::Sema;
use super::waiter::stack_marker;

/// A mutual-exclusion lock protecting a `T` (Go's `sync.Mutex`, with the data inside as in
/// Rust). Waiting parks the green thread; on a plain OS thread it blocks the thread.
///
/// A panic while the guard is held unlocks and poisons nothing (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// let total = goro_runtime::run(|| {
///     let balance = Arc::new(goro_runtime::sync::Mutex::new(0));
///     let hs: Vec<_> = (0..100)
///         .map(|_| {
///             let b = balance.clone();
///             goro_runtime::go(move || *b.lock() += 10)
///         })
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     let v = *balance.lock();
///     v
/// });
/// assert_eq!(total, 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    sema: Sema,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one party at a time (invariant), possibly on
// another thread, which is sound when `T: Send` — as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: sharing the mutex shares only exclusive, serialized access to `T`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s data; unlocks when dropped.
///
/// It may be held across a park (a channel operation, a `sleep`): the green thread may
/// resume on another worker, and the guard moves with it — unlike `std::sync::MutexGuard`.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// `&T` is shared through `&MutexGuard`, so the guard is `Sync` only for `T: Sync`.
    _marker: PhantomData<&'a T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            sema: Sema::new(1, WaitReason::MutexLock),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the caller until the lock is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.sema.acquire();
        self.sema.set_holder(stack_marker());
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Locks if the lock is free right now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sema.try_acquire().then(|| {
            self.sema.set_holder(stack_marker());
            MutexGuard {
                mutex: self,
                _marker: PhantomData,
            }
        })
    }

    /// True if some party holds the lock (racy: for diagnostics).
    pub fn is_locked(&self) -> bool {
        self.sema.available() == 0
    }

    /// The data, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit (invariant), so no other access
        // to `data` exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Unlocks and returns the mutex (for `Condvar::wait`, which locks it again).
    pub(super) fn unlock(guard: MutexGuard<'a, T>) -> &'a Mutex<T> {
        let mutex = guard.mutex;
        drop(guard);
        mutex
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.sema.set_holder(0);
        self.mutex.sema.release();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(v: T) -> Self {
        Mutex::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_lock_fails_while_held() {
        let m = Mutex::new(1);
        let g = m.lock();
        assert!(m.try_lock().is_none());
        assert!(m.is_locked());
        drop(g);
        *m.try_lock().unwrap() += 1;
        assert_eq!(m.into_inner(), 2);
    }

    #[test]
    fn os_threads_contend() {
        let m = std::sync::Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*m.lock(), 40_000);
    }

    #[test]
    fn debug_shows_locked() {
        let m = Mutex::new(5);
        assert_eq!(format!("{m:?}"), "Mutex { data: 5 }");
        let _g = m.lock();
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
    }
}
