//! The parked-waiter kit every `goro::sync` primitive queues with: a [`Waiter`] record in
//! an `Arc` (off the parked stack), woken with a verdict — *granted* (what was waited for is
//! now the waiter's) or *woken* (try again) — and withdrawn from its queue if its green
//! thread is unwound while it waits.
//!
//! # Invariants
//! 1. A waiter's `status` goes `WAITING` → `WOKEN` or `GRANTED`, set by whoever took it out
//!    of its queue, after releasing the queue's lock; the waiter reads it after each wake-up
//!    and parks again while it is still `WAITING` (wake-ups may be spurious).
//! 2. The waiter is queued under the queue's lock and releases that lock only in its park's
//!    release step, so a waker that finds it queued wakes a party already committed to
//!    parking: no wake-up is lost (the park protocol's rule, `park/mod.rs`).
//! 3. If the wait unwinds, `on_unwind` runs under the caller's queue lock and withdraws the
//!    waiter, or gives back what was granted: nothing stays owned by a gone green thread.
//!
//! `sema.rs` (the semaphore under `Mutex`, `RwLock` and `Semaphore`), `once.rs`,
//! `once_lock.rs`, `rwlock.rs`, `waitgroup.rs` and `condvar.rs` build on it.

use std::collections::VecDeque;

use crate::loom::{AtomicBool, AtomicUsize, Ordering};
use wake::Wake;

#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(loom)]
use loom::sync::Arc;

use crate::park::{LockHolder, WaitReason};

/// An address on the caller's stack: who holds a lock, as `dump` identifies it (the
/// green thread whose stack contains it). Taking it costs a stack store, where asking the
/// thread context for the running green thread's id costs a call: a goro `Mutex`'s
/// uncontended lock and unlock in a green thread took 28 % longer with the id (5.2 →
/// 6.6 ns) and the same with this (4.66 → 4.56 ns, medians of five interleaved runs,
/// 2026-12-07).
#[inline(always)]
pub(crate) fn stack_marker() -> u64 {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as u64
}

/// How a waiter is woken: the runtime's `Unparker` (a green thread or an OS thread); under
/// loom, a model thread's `ThreadParker`.
#[cfg(not(loom))]
mod wake {
    use crate::park::{Unparker, WaitReason};

    pub(crate) type Wake = Unparker;

    pub(crate) fn current() -> Wake {
        crate::park::current()
    }

    /// Parks for `(reason, object, holder, outside)` (see `Waiter`).
    pub(crate) fn park(on: (WaitReason, usize, u64, bool), release: impl FnOnce()) {
        let (reason, object, holder, outside) = on;
        let on = crate::park::WaitingOn::on_object(reason, object, holder).outside_bubble(outside);
        crate::park::park_on(on, release);
    }

    pub(crate) fn unpark(w: &Wake) {
        w.clone().unpark();
    }
}

#[cfg(loom)]
mod wake {
    use crate::primitives::thread_parker::ThreadParker;
    use loom::sync::Arc;

    pub(crate) type Wake = Arc<ThreadParker>;

    loom::thread_local! {
        static PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
    }

    pub(crate) fn current() -> Wake {
        PARKER.with(Arc::clone)
    }

    pub(crate) fn park(_on: (crate::park::WaitReason, usize, u64, bool), release: impl FnOnce()) {
        release();
        PARKER.with(|p| p.park());
    }

    pub(crate) fn unpark(w: &Wake) {
        w.unpark();
    }
}

/// One parked party. Lives in an `Arc` shared by the waiter and the queue (never on the
/// waiter's stack: see "keep wait records off the stack" in `park`).
#[derive(Debug)]
pub(crate) struct Waiter {
    /// `WAITING`, then `WOKEN` (retry) or `GRANTED` (what was waited for is ours).
    status: AtomicUsize,
    /// Set by a semaphore waiter that has waited longer than `STARVATION`: the releaser
    /// then hands it the permit instead of letting it compete.
    pub(crate) starving: AtomicBool,
    wake: Wake,
    /// What `dump` says the parked party waits for.
    reason: WaitReason,
    /// The address of the primitive waited on, for `dump`.
    object: usize,
    /// Who held the lock when this waiter queued (`LockHolder::encode`), for `dump`.
    holder: u64,
    /// Waits on something used outside the caller's synctest bubble (never durable).
    outside: bool,
    /// An address on the waiting party's stack (`stack_marker`): a lock that grants
    /// itself to this waiter records it as the holder.
    pub(crate) party: u64,
}

const WAITING: usize = 0;
const WOKEN: usize = 1;
const GRANTED: usize = 2;

/// How long a semaphore waiter competes with newcomers before it asks for a hand-off
/// (Go's `starvationThresholdNs`).
pub(crate) const STARVATION: std::time::Duration = std::time::Duration::from_millis(1);

impl Waiter {
    /// A waiter for the calling green thread (or OS thread), which `dump` shows as
    /// waiting for `reason` on the primitive at `object` (`on 0x...`: which lock).
    pub(crate) fn new<T: ?Sized>(reason: WaitReason, object: &T) -> Arc<Waiter> {
        Waiter::new_held(reason, object, None)
    }

    /// As [`new`](Self::new), for a primitive something outside the caller's synctest
    /// bubble has used (`bubble_tag.rs`): the wait is never durable there.
    pub(crate) fn new_tagged<T: ?Sized>(
        reason: WaitReason,
        object: &T,
        outside: bool,
    ) -> Arc<Waiter> {
        let mut w = Waiter::new_held(reason, object, None);
        if outside {
            Arc::get_mut(&mut w).expect("just made").outside = true;
        }
        w
    }

    /// As [`new`](Self::new), for a lock `holder` holds (`dump` names it).
    pub(crate) fn new_held<T: ?Sized>(
        reason: WaitReason,
        object: &T,
        holder: Option<LockHolder>,
    ) -> Arc<Waiter> {
        Arc::new(Waiter {
            status: AtomicUsize::new(WAITING),
            starving: AtomicBool::new(false),
            wake: wake::current(),
            reason,
            object: (object as *const T).cast::<()>() as usize,
            holder: LockHolder::encode(holder),
            outside: false,
            party: stack_marker(),
        })
    }

    /// Parks until [`grant`](Self::grant)ed. `guard` (the lock under which this waiter was
    /// enqueued) is released only once the caller is committed to parking.
    ///
    /// If the park unwinds instead (the runtime is dropped while we wait and unwinds its
    /// green threads), `on_unwind` runs: it must take this waiter out of its queue, or —
    /// if it was already granted — give back what was granted, so nothing stays owned by
    /// a green thread that no longer exists.
    ///
    /// Returns true if granted, false if only woken to retry ([`wake`](Self::wake)).
    pub(crate) fn wait<G, F: FnOnce()>(&self, guard: G, on_unwind: F) -> bool {
        let withdraw = OnUnwind(Some(on_unwind));
        let mut guard = Some(guard);
        let mut status = self.status.load(Ordering::Acquire);
        while status == WAITING {
            let on = (self.reason, self.object, self.holder, self.outside);
            wake::park(on, || drop(guard.take()));
            status = self.status.load(Ordering::Acquire);
        }
        drop(guard);
        std::mem::forget(withdraw);
        status == GRANTED
    }

    /// True once granted (for an unwinding waiter deciding what to give back).
    pub(crate) fn is_granted(&self) -> bool {
        self.status.load(Ordering::Acquire) == GRANTED
    }

    /// True if `self` and `other` are the same waiter.
    pub(crate) fn is(&self, other: &Waiter) -> bool {
        std::ptr::eq(self, other)
    }

    /// Tells the waiter that what it waits for is now its own, and wakes it. Call after
    /// releasing the lock that guards the queue it was taken from.
    pub(crate) fn grant(&self) {
        self.status.store(GRANTED, Ordering::Release);
        wake::unpark(&self.wake);
    }

    /// Wakes a waiter that is still waiting, without giving it anything (a cancellation);
    /// false if it was granted or woken already. Unlike [`wake`](Self::wake) it never
    /// overwrites a grant, so it may race with one.
    pub(crate) fn interrupt(&self) -> bool {
        let interrupted = self
            .status
            .compare_exchange(WAITING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if interrupted {
            wake::unpark(&self.wake);
        }
        interrupted
    }

    /// Wakes the waiter to try again, without giving it anything (Go's normal mode).
    pub(crate) fn wake(&self) {
        self.status.store(WOKEN, Ordering::Release);
        wake::unpark(&self.wake);
    }
}

/// Runs its closure when dropped — by an unwind out of [`Waiter::wait`] only (the normal
/// path forgets it).
struct OnUnwind<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The queues waiters sit in.
pub(crate) trait WaiterList {
    /// Removes `w`; true if it was queued.
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool;
}

impl WaiterList for VecDeque<Arc<Waiter>> {
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool {
        match self.iter().position(|x| x.is(w)) {
            Some(i) => self.remove(i).is_some(),
            None => false,
        }
    }
}

impl WaiterList for Vec<Arc<Waiter>> {
    fn remove_waiter(&mut self, w: &Arc<Waiter>) -> bool {
        match self.iter().position(|x| x.is(w)) {
            Some(i) => {
                self.remove(i);
                true
            }
            None => false,
        }
    }
}

/// Wakes every waiter in `list` (taken out from under a lock first).
pub(crate) fn grant_all(list: impl IntoIterator<Item = Arc<Waiter>>) {
    for w in list {
        w.grant();
    }
}
