//! `OnceLock<T>` and `LazyLock<T, F>`: std's one-time initialised cells, parking green
//! threads that arrive while the value is being computed.
//!
//! std's `OnceLock::get_or_init` blocks the OS thread of every caller that arrives during
//! the initialisation. If the initialiser parks (it sleeps, receives from a channel, does
//! I/O), those blocked callers can be every worker, and the initialiser never runs again:
//! four green threads hung the runtime in 3 of 3 runs. Here the latecomers park.
//!
//! # Invariants
//! 1. `state` goes EMPTY → RUNNING (one caller wins the CAS) → FULL, or back RUNNING →
//!    EMPTY if the initialiser panics (std's rule: the cell stays empty and the next
//!    caller tries again). FULL is final.
//! 2. `value` is written only by the RUNNING winner, and read only after FULL is seen
//!    (acquire), so readers see it whole.
//! 3. The winner changes `state` before it takes `waiters` under its lock; a caller
//!    checks `state` under that lock before it parks, so nobody parks after the wake-up.
//!
//! # Lock order
//! `waiters` is a leaf.

use crate::park::WaitReason;
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::waiter::{grant_all, Waiter, WaiterList};

const EMPTY: u8 = 0;
const RUNNING: u8 = 1;
const FULL: u8 = 2;

/// A cell written once (std's `OnceLock`): the first [`get_or_init`](Self::get_or_init)
/// runs its closure, callers that arrive meanwhile park until it has finished, and every
/// later caller gets the value. `new` is `const`, so it can be a `static`.
///
/// ```
/// use std::time::Duration;
/// static CONFIG: goro_runtime::sync::OnceLock<String> = goro_runtime::sync::OnceLock::new();
/// goro_runtime::run(|| {
///     let hs: Vec<_> = (0..4)
///         .map(|_| goro_runtime::go(|| CONFIG.get_or_init(|| {
///             goro_runtime::sleep(Duration::from_millis(5)); // parks: others park too
///             "loaded".to_string()
///         }).len()))
///         .collect();
///     assert!(hs.into_iter().all(|h| h.join().unwrap() == 6));
/// });
/// ```
pub struct OnceLock<T> {
    state: AtomicU8,
    waiters: crate::lock::Mutex<Vec<Arc<Waiter>>>,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once by one party and then only shared (invariants 1, 2),
// like std's `OnceLock`: sending the cell sends a `T`; sharing it shares `&T` and lets any
// thread be the one that writes (and later drops) it.
unsafe impl<T: Send> Send for OnceLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            state: AtomicU8::new(EMPTY),
            waiters: crate::lock::Mutex::new(Vec::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it has been set.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == FULL {
            // SAFETY: FULL: written and never written again (invariant 2).
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, mutably (no other party can hold the cell).
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.state.get_mut() == FULL {
            // SAFETY: FULL and `&mut self`: initialised and exclusively ours.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Sets the value if the cell is empty; otherwise hands `value` back. Waits (parks)
    /// if another party is initialising the cell right now.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("runs once"));
        value.map_or(Ok(()), Err)
    }

    /// The value, initialised by `f` if the cell is empty. If `f` panics, the panic
    /// propagates and the cell stays empty (the next caller runs its own closure).
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        let mut f = Some(f);
        loop {
            if let Some(v) = self.get() {
                return v;
            }
            match self
                .state
                .compare_exchange(EMPTY, RUNNING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return self.initialise(f.take().expect("tried once")),
                Err(FULL) => continue,
                Err(_) => self.wait_while_running(),
            }
        }
    }

    /// The value, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if *self.state.get_mut() == FULL {
            *self.state.get_mut() = EMPTY;
            // SAFETY: it was FULL; the state now says EMPTY, so it is read out only once.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }

    fn initialise(&self, f: impl FnOnce() -> T) -> &T {
        let reset = Finish {
            cell: self,
            to: EMPTY,
        }; // invariant 1 on a panic
        let v = f();
        // SAFETY: we are the RUNNING winner: nobody else writes or reads the value yet.
        unsafe { (*self.value.get()).write(v) };
        std::mem::forget(reset);
        Finish {
            cell: self,
            to: FULL,
        }
        .finish();
        self.get().expect("just set")
    }

    #[cold]
    fn wait_while_running(&self) {
        let waiters = self.waiters.lock();
        if self.state.load(Ordering::Acquire) != RUNNING {
            return; // invariant 3
        }
        let me = Waiter::new(WaitReason::OnceWait, self);
        let mut waiters = waiters;
        waiters.push(me.clone());
        me.wait(waiters, || {
            self.waiters.lock().remove_waiter(&me);
        });
    }
}

/// Ends a RUNNING initialisation: sets the final state, then wakes the waiters (on a
/// panic, through `Drop`).
struct Finish<'a, T> {
    cell: &'a OnceLock<T>,
    to: u8,
}

impl<T> Finish<'_, T> {
    fn finish(self) {
        drop(self);
    }
}

impl<T> Drop for Finish<'_, T> {
    fn drop(&mut self) {
        self.cell.state.store(self.to, Ordering::Release);
        let waiters = std::mem::take(&mut *self.cell.waiters.lock()); // invariant 3
        grant_all(waiters);
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(v: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(v);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(v) => f.debug_tuple("OnceLock").field(v).finish(),
            None => f.write_str("OnceLock(<uninit>)"),
        }
    }
}

/// A value computed on first use (std's `LazyLock`): the first dereference runs the
/// closure, callers that arrive meanwhile park, and every later one gets the value.
/// `new` is `const`, so it can be a `static`. If the closure panics, the panic propagates
/// and every later use panics too (std's poisoning).
///
/// ```
/// use std::collections::HashMap;
/// static PRIMES: goro_runtime::sync::LazyLock<Vec<u32>> = goro_runtime::sync::LazyLock::new(|| {
///     (2..50).filter(|n| (2..*n).all(|d| n % d != 0)).collect()
/// });
/// goro_runtime::run(|| assert_eq!(PRIMES[4], 11));
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is taken only by the one party that runs the initialisation (the
// OnceLock's RUNNING winner), so sharing the lock shares `&T` and moves `F` to one thread.
unsafe impl<T: Send + Sync, F: Send> Sync for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A value that `f` will compute on first use.
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// Computes the value if that has not happened yet, and returns it.
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: only the OnceLock's RUNNING winner runs this closure (invariant 1).
            let f = unsafe { (*this.init.get()).take() };
            f.expect("LazyLock instance has previously been poisoned")()
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cell.get() {
            Some(v) => f.debug_tuple("LazyLock").field(v).finish(),
            None => f.write_str("LazyLock(<uninit>)"),
        }
    }
}
