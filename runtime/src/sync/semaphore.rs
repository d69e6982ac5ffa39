//! `Semaphore`: a counting semaphore (Go's `golang.org/x/sync/semaphore`, weight 1), the
//! public face of [`Sema`].

use crate::park::WaitReason;
use std::fmt;
use std::sync::Arc;

use super::sema::Sema;

/// A counting semaphore: at most `permits` holders at once. Waiting parks the green thread
/// (an OS thread blocks); permits are handed to waiters in FIFO order.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// goro_runtime::run(|| {
///     let sem = Arc::new(goro_runtime::sync::Semaphore::new(3));
///     let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
///     let hs: Vec<_> = (0..20).map(|_| {
///         let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
///         goro_runtime::go(move || {
///             let _permit = sem.acquire();
///             peak.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
///             goro_runtime::yield_now();
///             running.fetch_sub(1, SeqCst);
///         })
///     }).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert!(peak.load(SeqCst) <= 3);
/// });
/// ```
pub struct Semaphore {
    sema: Sema,
}

/// One permit of a [`Semaphore`]; returned when dropped (or kept with [`forget`](Self::forget)).
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds `u32::MAX` (on 64-bit targets).
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            sema: Sema::new(permits, WaitReason::Semacquire),
        }
    }

    /// Takes a permit, parking until one is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.sema.acquire();
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free right now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sema
            .try_acquire()
            .then(|| SemaphorePermit { sem: self })
    }

    /// Takes a permit, parking until one is free, as a permit that owns a reference to
    /// the semaphore: it can move into a green thread (`go`) and is returned when dropped
    /// there (tokio's `acquire_owned`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// goro_runtime::run(|| {
    ///     let slots = Arc::new(goro_runtime::sync::Semaphore::new(2));
    ///     let hs: Vec<_> = (0..10)
    ///         .map(|_| {
    ///             let permit = slots.acquire_owned();
    ///             goro_runtime::go(move || drop(permit)) // the slot returns here
    ///         })
    ///         .collect();
    ///     hs.into_iter().for_each(|h| h.join().unwrap());
    ///     assert_eq!(slots.available_permits(), 2);
    /// });
    /// ```
    pub fn acquire_owned(self: &Arc<Self>) -> OwnedSemaphorePermit {
        self.sema.acquire();
        OwnedSemaphorePermit { sem: self.clone() }
    }

    /// [`try_acquire`](Self::try_acquire), as an [`OwnedSemaphorePermit`].
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.sema
            .try_acquire()
            .then(|| OwnedSemaphorePermit { sem: self.clone() })
    }

    /// Adds `n` permits (waking up to `n` waiters). Pairs with [`SemaphorePermit::forget`].
    ///
    /// # Panics
    /// If the semaphore would hold more than `u32::MAX` free permits (on 64-bit targets).
    pub fn add_permits(&self, n: usize) {
        assert!(
            self.sema.release_many(n),
            "Semaphore::add_permits: adding {n} permits would exceed the maximum of {}",
            super::sema::MAX_PERMITS
        );
    }

    /// Free permits right now (racy).
    pub fn available_permits(&self) -> usize {
        self.sema.available()
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: it is not returned on drop (see [`Semaphore::add_permits`]).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.sema.release();
    }
}

/// A permit of an `Arc<Semaphore>` ([`Semaphore::acquire_owned`]); returned when dropped,
/// wherever that is.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
}

impl OwnedSemaphorePermit {
    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.sema.release();
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedSemaphorePermit")
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.sema.available())
            .field("waiting", &self.sema.waiting())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
