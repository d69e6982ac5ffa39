//! `Semaphore`: a weighted counting semaphore (Go's `golang.org/x/sync/semaphore`).
//!
//! Go's weighted semaphore, kept as it is there: a count of free permits and a FIFO queue
//! of waiters, each wanting `n`, under one lock. A request is served at once only if
//! nobody waits and enough permits are free; otherwise it queues. A release serves the
//! queue from the front for as long as the front waiter's `n` fits — so a big waiter at
//! the head is served first and is never overtaken by small ones behind it (it does not
//! starve), and small ones behind it wait for it (they cannot barge). `Mutex` keeps its
//! own lock-free semaphore (`sema.rs`); this one is not on any hot path of goro's.
//!
//! # Invariants
//! 1. `available` is the number of free permits; a permit is either free, held by a
//!    `SemaphorePermit`/`OwnedSemaphorePermit` (which returns it on drop), forgotten, or
//!    granted to a waiter that has not woken yet.
//! 2. Permits are granted to waiters only from the front of `waiters`, in order, each
//!    taking its `n` out of `available` under the lock before it is woken.
//! 3. A waiter that unwinds while queued (its runtime was dropped) leaves the queue; one
//!    that was granted meanwhile gives its permits back.
//!
//! # Lock order
//! `state` is a leaf: waiters are woken after it is released.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use super::sema::MAX_PERMITS;
use super::waiter::Waiter;
use crate::lock::Mutex;
use crate::park::WaitReason;

/// A counting semaphore: at most `permits` held at once, taken one at a time
/// ([`acquire`](Self::acquire)) or several at once ([`acquire_many`](Self::acquire_many),
/// Go's weighted `Acquire(ctx, n)`). Waiting parks the green thread (an OS thread
/// blocks); waiters are served in FIFO order, and a waiter for many permits at the head of
/// the queue is served before smaller ones behind it.
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
    state: Mutex<State>,
    /// The synctest bubble it is used in (`bubble_tag.rs`).
    bubble: super::bubble_tag::BubbleTag,
}

struct State {
    available: usize,
    /// Queued requests: how many permits, and who waits (invariant 2).
    waiters: VecDeque<(usize, Arc<Waiter>)>,
}

/// Permits of a [`Semaphore`]; returned when dropped (or kept with [`forget`](Self::forget)).
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

/// Permits of an `Arc<Semaphore>` ([`Semaphore::acquire_owned`]); returned when dropped,
/// wherever that is.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    n: usize,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds `u32::MAX` (on 64-bit targets).
    pub const fn new(permits: usize) -> Semaphore {
        assert!(permits <= MAX_PERMITS, "semaphore permit count too large");
        Semaphore {
            state: Mutex::new(State {
                available: permits,
                waiters: VecDeque::new(),
            }),
            bubble: super::bubble_tag::BubbleTag::new(),
        }
    }

    /// Takes a permit, parking until one is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, parking until they are free and every earlier waiter has
    /// been served (Go's `Acquire(ctx, n)`). `n == 0` returns at once. A request for more
    /// permits than will ever be free waits forever, as Go's does.
    ///
    /// ```
    /// goro_runtime::run(|| {
    ///     let sem = goro_runtime::sync::Semaphore::new(10);
    ///     let big = sem.acquire_many(8);
    ///     assert_eq!(sem.available_permits(), 2);
    ///     assert!(sem.try_acquire_many(3).is_none());
    ///     drop(big);
    ///     assert!(sem.try_acquire_many(10).is_some());
    /// });
    /// ```
    pub fn acquire_many(&self, n: usize) -> SemaphorePermit<'_> {
        self.take(n);
        SemaphorePermit { sem: self, n }
    }

    /// Takes a permit if one is free right now and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free right now and nobody waits (Go's
    /// `TryAcquire(n)`: it does not overtake a queued waiter).
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        // `then`, not `then_some`: a permit built and dropped would release `n`.
        self.try_take(n).then(|| SemaphorePermit { sem: self, n })
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
        self.acquire_many_owned(1)
    }

    /// [`acquire_many`](Self::acquire_many), as an [`OwnedSemaphorePermit`].
    pub fn acquire_many_owned(self: &Arc<Self>, n: usize) -> OwnedSemaphorePermit {
        self.take(n);
        OwnedSemaphorePermit {
            sem: self.clone(),
            n,
        }
    }

    /// [`try_acquire`](Self::try_acquire), as an [`OwnedSemaphorePermit`].
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many), as an [`OwnedSemaphorePermit`].
    pub fn try_acquire_many_owned(self: &Arc<Self>, n: usize) -> Option<OwnedSemaphorePermit> {
        self.try_take(n).then(|| OwnedSemaphorePermit {
            sem: self.clone(),
            n,
        })
    }

    /// Adds `n` permits (serving waiters that now fit). Pairs with
    /// [`SemaphorePermit::forget`].
    ///
    /// # Panics
    /// If the semaphore would hold more than `u32::MAX` free permits (on 64-bit targets).
    pub fn add_permits(&self, n: usize) {
        self.bubble.touch();
        let granted = {
            let mut st = self.state.lock();
            match st.available.checked_add(n).filter(|&a| a <= MAX_PERMITS) {
                Some(a) => st.available = a,
                None => {
                    drop(st);
                    panic!(
                        "Semaphore::add_permits: adding {n} permits would exceed the maximum \
                         of {MAX_PERMITS}"
                    );
                }
            }
            serve(&mut st)
        };
        wake_granted(granted);
    }

    /// Free permits right now (racy).
    pub fn available_permits(&self) -> usize {
        self.state.lock().available
    }

    /// Takes `n` permits without waiting, if nobody waits and they are free.
    fn try_take(&self, n: usize) -> bool {
        self.bubble.touch();
        let mut st = self.state.lock();
        if st.waiters.is_empty() && st.available >= n {
            st.available -= n;
            true
        } else {
            false
        }
    }

    /// Takes `n` permits, queueing and parking until they are granted (invariant 2).
    fn take(&self, n: usize) {
        let granted = self.take_interruptible(n, |_| {});
        debug_assert!(granted, "nobody can interrupt this wait");
    }

    /// Takes `n` permits like [`acquire_many`](Self::acquire_many), unless the
    /// [`Interrupt`] handed to `on_queue` (called only if the request has to wait) is used
    /// first: then it returns `None` and holds nothing. The building block of a wait that a
    /// context can end (goro-chan's `Context::acquire`, Go's `Acquire(ctx, n)`).
    #[doc(hidden)]
    pub fn acquire_many_interruptible(
        &self,
        n: usize,
        on_queue: impl FnOnce(Interrupt),
    ) -> Option<SemaphorePermit<'_>> {
        self.take_interruptible(n, on_queue)
            .then(|| SemaphorePermit { sem: self, n })
    }

    /// [`take`](Self::take), ending early (false, nothing held) if interrupted.
    fn take_interruptible(&self, n: usize, on_queue: impl FnOnce(Interrupt)) -> bool {
        let here = self.bubble.touch();
        let mut st = self.state.lock();
        if st.waiters.is_empty() && st.available >= n {
            st.available -= n;
            return true;
        }
        let outside = self.bubble.is_outside(here);
        let me = Waiter::new_tagged(WaitReason::Semacquire, self, outside);
        st.waiters.push_back((n, me.clone()));
        drop(st);
        on_queue(Interrupt(me.clone()));
        // Granted (the permits are ours) or interrupted (`Interrupt::interrupt` never
        // overwrites a grant, so an interrupted waiter holds nothing yet). A grant that
        // came before this park leaves the park's token: no wake-up is lost.
        if me.wait((), || self.withdraw(&me, n)) {
            return true;
        }
        self.withdraw(&me, n);
        false
    }

    /// A waiter unwinding out of `take` (invariant 3): out of the queue, or, if it was
    /// granted meanwhile, its permits back.
    fn withdraw(&self, me: &Arc<Waiter>, n: usize) {
        let granted = {
            let mut st = self.state.lock();
            match st.waiters.iter().position(|(_, w)| w.is(me)) {
                Some(i) => {
                    st.waiters.remove(i);
                    // A big waiter leaving the head may let smaller ones behind it in.
                    serve(&mut st)
                }
                None if me.is_granted() => {
                    st.available += n;
                    serve(&mut st)
                }
                None => Vec::new(),
            }
        };
        wake_granted(granted);
    }

    /// Returns `n` permits (a dropped permit).
    fn release(&self, n: usize) {
        self.bubble.touch();
        let granted = {
            let mut st = self.state.lock();
            st.available += n;
            serve(&mut st)
        };
        wake_granted(granted);
    }
}

/// Ends one queued [`Semaphore::acquire_many_interruptible`] early. Cheap to clone.
#[doc(hidden)]
#[derive(Clone)]
pub struct Interrupt(Arc<Waiter>);

impl Interrupt {
    /// Wakes the waiting request without permits (nothing if it was served already).
    pub fn interrupt(&self) {
        self.0.interrupt();
    }
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interrupt")
    }
}

/// Grants permits to the waiters at the front of the queue for as long as the front one's
/// request fits (invariant 2). Returns them, to be woken after the lock is released.
fn serve(st: &mut State) -> Vec<Arc<Waiter>> {
    let mut granted = Vec::new();
    while let Some(&(n, _)) = st.waiters.front() {
        if n > st.available {
            break;
        }
        st.available -= n;
        let (_, w) = st.waiters.pop_front().expect("front exists");
        granted.push(w);
    }
    granted
}

fn wake_granted(granted: Vec<Arc<Waiter>>) {
    for w in granted {
        w.grant();
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permits taken: they are not returned on drop (see
    /// [`Semaphore::add_permits`]).
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl OwnedSemaphorePermit {
    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Semaphore")
            .field("available", &st.available)
            .field("waiting", &st.waiters.len())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}
