//! Wait queues of parked senders and receivers (Go's `waitq` of `sudog`s).
//!
//! A [`Waiter`] is one blocked operation: who to wake, a slot for the value (a sender's
//! value waiting to be taken; the value delivered to a receiver), and the outcome. It is a
//! `Box` owned by the parked party — on the heap, never on the parked green thread's stack,
//! so parked stacks stay free to be compacted — and the queue holds a raw pointer to it.
//! Blocking `send`/`recv` hand the box back with `park::free_waiter`, so a green thread
//! that parks again reuses the same block instead of a `malloc`/`free` pair per park.
//!
//! # Protocol (why the raw pointers are sound)
//! * The owner keeps its `Box` alive while the waiter is queued, and frees it only after
//!   seeing a final `outcome` or after removing the waiter from the queue under the lock.
//! * **A waiter leaves every queue before its owner can vanish.** An owner that is unwound
//!   while parked (its runtime was dropped) withdraws its waiter on the way out
//!   (`hchan::Queued`'s and select's `Drop`), so a later send can never hand a value to a
//!   dead receiver and return `Ok`.
//! * **A value in a waiter is delivered or dropped exactly once** — also at shutdown and
//!   when a runtime is dropped: a withdrawn sender's box still holds its value and drops
//!   it with the box; a receiver's delivered value is taken by its owner or dropped the same
//!   way.
//! * A waker touches a waiter only while holding the channel lock and while the waiter is
//!   (or was just dequeued from) that channel's queue. It fills or empties `slot`, *moves*
//!   the `Unparker` out, then publishes `outcome` (release) — its last access — and unparks
//!   after unlocking.
//! * The owner reads `slot` only after seeing a final `outcome` (acquire), or under the lock
//!   after removing itself from the queue (timeout, select loser).
//! * A select waiter carries the select's shared [`Claim`]: a waker must win the claim (CAS
//!   `NONE → case index`) before completing the waiter; a waiter whose claim is taken is a
//!   loser and is dropped from the queue (Go's `selectDone` check in `waitq.dequeue`).

use crate::loom::{AtomicU8, AtomicUsize, Ordering};
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Arc;

use goro_runtime::park::Unparker;

/// Still queued.
pub(crate) const WAITING: u8 = 0;
/// Completed: the value was handed over.
pub(crate) const DONE: u8 = 1;
/// Woken by close (or by the last receiver leaving): a sender still holds its value.
pub(crate) const CLOSED: u8 = 2;

/// The claim shared by all waiters of one blocked select.
#[derive(Debug)]
pub(crate) struct Claim {
    winner: AtomicUsize,
}

pub(crate) const NO_WINNER: usize = usize::MAX;
/// The selecting party gave up (timeout): no waker may claim any more.
pub(crate) const ABANDONED: usize = usize::MAX - 1;

impl Claim {
    pub(crate) fn new() -> Arc<Claim> {
        Arc::new(Claim {
            winner: AtomicUsize::new(NO_WINNER),
        })
    }

    /// Wins the select for case `index`. Exactly one call ever succeeds.
    pub(crate) fn try_win(&self, index: usize) -> bool {
        // AcqRel: the winner's delivery (after this) is published by the outcome store; the
        // CAS itself orders competing wakers on different channels.
        self.winner
            .compare_exchange(NO_WINNER, index, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn winner(&self) -> usize {
        self.winner.load(Ordering::Acquire)
    }
}

/// One blocked channel operation (Go's `sudog`).
pub(crate) struct Waiter<T> {
    unparker: UnsafeCell<Option<Unparker>>,
    slot: UnsafeCell<Option<T>>,
    outcome: AtomicU8,
    select: Option<(Arc<Claim>, usize)>,
}

// SAFETY: the cells are accessed under the protocol in the module docs (the channel lock or
// a final outcome orders every access); the value crossing threads is a `T: Send`.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    pub(crate) fn new(
        unparker: Unparker,
        value: Option<T>,
        select: Option<(Arc<Claim>, usize)>,
    ) -> Box<Self> {
        Box::new(Waiter::with(unparker, value, select))
    }

    /// A plain (non-select) waiter for the caller, in the calling green thread's recycled
    /// block if it has one (`park::alloc_waiter`); hand it back with `park::free_waiter`.
    pub(crate) fn for_current(value: Option<T>) -> Box<Self> {
        goro_runtime::__private::alloc_waiter(|me| Waiter::with(me, value, None))
    }

    fn with(unparker: Unparker, value: Option<T>, select: Option<(Arc<Claim>, usize)>) -> Self {
        Waiter {
            unparker: UnsafeCell::new(Some(unparker)),
            slot: UnsafeCell::new(value),
            outcome: AtomicU8::new(WAITING),
            select,
        }
    }

    pub(crate) fn outcome(&self) -> u8 {
        // Acquire: pairs with `finish`.
        self.outcome.load(Ordering::Acquire)
    }

    /// Takes the slot's value.
    ///
    /// # Safety
    /// Caller is the waker holding the channel lock with the waiter dequeued, or the owner
    /// after a final outcome or after removing the waiter from its queue under the lock.
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: forwarded.
        unsafe { (*self.slot.get()).take() }
    }

    /// Puts a value in the slot (a waker delivering to a receiver).
    ///
    /// # Safety
    /// As for [`take`](Self::take), waker side.
    pub(crate) unsafe fn put(&self, v: T) {
        // SAFETY: forwarded.
        unsafe { *self.slot.get() = Some(v) };
    }

    /// The select claim and case index of a select waiter.
    pub(crate) fn select_claim(&self) -> Option<(&Claim, usize)> {
        self.select.as_ref().map(|(c, i)| (&**c, *i))
    }

    /// Replaces who is woken (an async task polled again with another `Waker`).
    ///
    /// # Safety
    /// Owner side, channel lock held, waiter still queued (outcome `WAITING`): no waker
    /// can be in `finish` meanwhile.
    pub(crate) unsafe fn set_unparker(&self, u: Unparker) {
        // SAFETY: forwarded.
        unsafe { *self.unparker.get() = Some(u) };
    }

    /// Publishes the outcome and hands the waker the `Unparker` to use after unlocking.
    /// This is the waker's last access to the waiter.
    ///
    /// # Safety
    /// Waker side, lock held, waiter dequeued (module docs); called once per waiter.
    pub(crate) unsafe fn finish(&self, outcome: u8) -> Unparker {
        // SAFETY: forwarded; the owner reads `unparker` never again once queued.
        let u = unsafe { (*self.unparker.get()).take() }.expect("goro: waiter finished twice");
        self.outcome.store(outcome, Ordering::Release);
        u
    }
}

/// A queued waiter, as the queue and wakers see it.
pub(crate) struct WaiterRef<T>(NonNull<Waiter<T>>);

impl<T> WaiterRef<T> {
    /// # Safety
    /// The waiter is alive (it is queued, or was just dequeued under the lock that is still
    /// held): module docs.
    pub(crate) unsafe fn get(&self) -> &Waiter<T> {
        // SAFETY: forwarded.
        unsafe { self.0.as_ref() }
    }
}

/// FIFO of waiters (Go's `waitq`).
pub(crate) struct WaitQueue<T> {
    q: VecDeque<NonNull<Waiter<T>>>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue { q: VecDeque::new() }
    }
}

impl<T> WaitQueue<T> {
    /// Queues the owner's waiter. The owner must keep the `Box` alive while it is queued.
    pub(crate) fn push(&mut self, w: &Waiter<T>) {
        self.q.push_back(NonNull::from(w));
    }

    /// The first waiter that can still be completed. Select waiters are claimed here; the
    /// ones whose select already has a winner are dropped from the queue (their owner frees
    /// them after relocking this channel).
    pub(crate) fn dequeue(&mut self) -> Option<WaiterRef<T>> {
        while let Some(p) = self.q.pop_front() {
            // SAFETY: queued waiters are alive (module docs); we hold the lock.
            let w = unsafe { p.as_ref() };
            match &w.select {
                Some((claim, index)) if !claim.try_win(*index) => continue,
                _ => return Some(WaiterRef(p)),
            }
        }
        None
    }

    /// Removes `w` if it is still queued (timeout, select loser). True if it was.
    pub(crate) fn remove(&mut self, w: &Waiter<T>) -> bool {
        let target = NonNull::from(w);
        match self.q.iter().position(|x| *x == target) {
            Some(i) => {
                self.q.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    /// Takes every waiter, claiming select waiters (close).
    pub(crate) fn drain_claimed(&mut self) -> Vec<WaiterRef<T>> {
        let mut out = Vec::with_capacity(self.q.len());
        while let Some(w) = self.dequeue() {
            out.push(w);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_remove() {
        let mut q = WaitQueue::default();
        let me = goro_runtime::park::current();
        let ws: Vec<_> = (0..3)
            .map(|i| Waiter::new(me.clone(), Some(i), None))
            .collect();
        for w in &ws {
            q.push(w);
        }
        assert!(q.remove(&ws[1]));
        assert!(!q.remove(&ws[1]));
        // SAFETY: the boxes in `ws` outlive the queue's use of them.
        unsafe {
            assert_eq!(q.dequeue().unwrap().get().take(), Some(0));
            assert_eq!(q.dequeue().unwrap().get().take(), Some(2));
        }
        assert!(q.dequeue().is_none());
    }

    #[test]
    fn select_losers_are_skipped() {
        let mut q = WaitQueue::default();
        let me = goro_runtime::park::current();
        let claim = Claim::new();
        let a = Waiter::new(me.clone(), None::<u8>, Some((claim.clone(), 0)));
        let b = Waiter::new(me.clone(), None::<u8>, Some((claim.clone(), 1)));
        let plain = Waiter::new(me, None::<u8>, None);
        q.push(&a);
        q.push(&plain);
        assert!(claim.try_win(1), "case 1 won elsewhere");
        let got = q.dequeue().unwrap();
        // SAFETY: `plain` outlives this use.
        let got = unsafe { got.get() };
        assert!(std::ptr::eq(got, &*plain), "a lost: skipped");
        q.push(&b);
        assert!(q.dequeue().is_none(), "b's select is already won");
        assert_eq!(claim.winner(), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize as Count;
    use loom::thread;

    /// Wakers on different channels race for one select while the selector times out
    /// (abandons): exactly one of them wins, and the winner is what everyone reads.
    #[test]
    fn loom_select_claim_has_exactly_one_winner() {
        loom::model(|| {
            let claim = Arc::new(Claim {
                winner: AtomicUsize::new(NO_WINNER),
            });
            let wins = Arc::new(Count::new(0));
            let hs: Vec<_> = (0..2)
                .map(|i| {
                    let (c, w) = (claim.clone(), wins.clone());
                    thread::spawn(move || {
                        if c.try_win(i) {
                            w.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            if claim.try_win(ABANDONED) {
                wins.fetch_add(1, Ordering::Relaxed);
            }
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(wins.load(Ordering::Relaxed), 1);
            assert_ne!(claim.winner(), NO_WINNER);
        });
    }
}
