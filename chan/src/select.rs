//! `select`: Go's `selectgo`, for any number and mix of cases and element types.
//!
//! Ported in spirit from Go's `src/runtime/select.go`.
//!
//! 1. **pollorder**: the cases in a random order (Fisher–Yates), so that when several are
//!    ready each is chosen with equal probability.
//! 2. **lockorder**: the channels sorted by address; every distinct channel is locked in
//!    that order, so two selects over the same channels can never deadlock.
//! 3. **Pass 0** (goro's addition): among the cases that *look* ready (lock-free hints), one
//!    chosen uniformly at random is tried under its own channel's lock alone (then another, if
//!    the hint was stale); the first that completes is the select's linearization point, as
//!    valid as Go's all-locks pass 1 because each try is atomic on its channel. This is the
//!    common case of a busy select: it takes one lock and one random draw, not every lock and a
//!    shuffle. **Pass 1**: with all locks held, the first ready case in pollorder completes.
//!    None ready and non-blocking (`default`): unlock, return `None`.
//! 4. **Pass 2**: one waiter per case, all sharing one [`Claim`], is queued on every channel,
//!    in pollorder (so duplicate cases on one channel are woken at random); the green thread
//!    parks, and the park's release step unlocks the channels *after* the switch (touching
//!    nothing after the last unlock: the select's memory may be gone right after it).
//! 5. **Pass 3**: woken, relock everything. A waker had to win the claim (CAS) before
//!    completing a waiter, so exactly one case fired; the losers are dequeued.
//!
//! A select never loses or duplicates a value: a value moves only under its channel's
//! lock, into or out of the one waiter that won the claim.
//!
//! # Invariants
//! 1. A case's channel is touched only with its lock held (`lock.rs`): pass 0 holds one,
//!    passes 1–3 hold all of them, taken in lockorder and released all together.
//! 2. Exactly one party wins a blocked select's [`Claim`] (a CAS from `NO_WINNER`): a waker
//!    on one of the channels, which then completes only that case's waiter, or the select
//!    itself (`ABANDONED`, on timeout), after which no waker completes any case. Checked
//!    by loom (`waitq.rs`).
//! 3. Between pass 2 and pass 3 every case's waiter is queued on its channel; pass 3 takes
//!    every loser out again under the locks, so when the select returns no queue points
//!    into its memory.
//! 4. The release step's last channel unlock is its last access to the select's memory
//!    (`lock.rs`, invariant 3): the selecting green thread may run and return right after.
//!
//! # Lock order
//! Channel locks in increasing address order (lockorder), as Go's `sellock`; a duplicate
//! channel is locked once.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_runtime::park::{self, Unparker, WaitReason};

use crate::channel::{Receiver, Sender};
use crate::error::{RecvError, SendError};
use crate::hchan::{Chan, ChanLock, RecvFail, SendFail};
use crate::waitq::{Claim, Waiter, CLOSED, DONE};

/// One case of a select, type-erased. Methods marked "lock held" are called only while
/// the select holds every channel lock.
trait Case {
    /// The case's channel, type-erased: its address and lock.
    fn chan(&self) -> &dyn ChanLock;
    /// Lock-free hint: might the case complete right now?
    fn looks_ready(&self) -> bool;
    /// Lock held: completes the case now if it is ready.
    fn try_now(&mut self) -> TryNow;
    /// Lock held: queues a select waiter for this case.
    fn register(&mut self, claim: &Arc<Claim>, index: usize, me: &Unparker);
    /// Lock held: dequeues this case's waiter if it is still queued (a loser).
    fn unregister(&mut self);
    /// Lock held, after this case won: takes the outcome the waker left in the waiter.
    fn collect(&mut self);
}

/// What [`Case::try_now`] did.
enum TryNow {
    /// The case cannot complete without waiting.
    WouldBlock,
    /// The case completed (its result is stored); wake this party, if any, once the
    /// channel is unlocked.
    Completed(Option<Unparker>),
}

/// A receive case. `select!` keeps its cases in the caller's frame (no allocation unless
/// the select blocks); [`Select`] boxes them.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    /// Queued only while the select is blocked. `ManuallyDrop` because `Drop` empties it by
    /// hand: a select that did not block (the busy path) then pays an inlined `is_some`
    /// per case instead of an out-of-line call to the `Option<Box<_>>` drop glue (11% of
    /// W5 on one worker).
    waiter: ManuallyDrop<Option<Box<Waiter<T>>>>,
    result: Option<Result<T, RecvError>>,
}

/// A send case; see [`RecvCase`].
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    /// See [`RecvCase`]'s field.
    waiter: ManuallyDrop<Option<Box<Waiter<T>>>>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase {
            chan: &rx.chan,
            waiter: ManuallyDrop::new(None),
            result: None,
        }
    }

    /// The outcome, if this case fired.
    pub fn take_result(&mut self) -> Option<Result<T, RecvError>> {
        self.result.take()
    }
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, v: T) -> Self {
        SendCase {
            chan: &tx.chan,
            value: Some(v),
            waiter: ManuallyDrop::new(None),
            result: None,
        }
    }

    /// The outcome, if this case fired.
    pub fn take_result(&mut self) -> Option<Result<(), SendError<T>>> {
        self.result.take()
    }
}

impl<T> std::fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCase")
            .field("parked", &self.waiter.is_some())
            .field("fired", &self.result.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCase")
            .field("parked", &self.waiter.is_some())
            .field("fired", &self.result.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CaseRef<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaseRef")
    }
}

/// One case of a `select!`, type-erased, as the engine takes it.
#[doc(hidden)]
pub struct CaseRef<'r, 'a>(&'r mut (dyn Case + 'a));

impl<'r, 'a> CaseRef<'r, 'a> {
    pub fn recv<T: 'a>(c: &'r mut RecvCase<'a, T>) -> Self {
        CaseRef(c)
    }

    pub fn send<T: 'a>(c: &'r mut SendCase<'a, T>) -> Self {
        CaseRef(c)
    }
}

/// Runs a `select!` over cases in the caller's frame: the index of the case that fired,
/// or `None` when `block` is false and nothing was ready.
#[doc(hidden)]
pub fn select_cases(cases: &mut [CaseRef<'_, '_>], block: bool) -> Option<usize> {
    run(cases, block, None)
}

/// A slot holding a case: `Box<dyn Case>` in [`Select`], `CaseRef` in `select!`.
trait CaseSlot<'a> {
    fn case(&self) -> &(dyn Case + 'a);
    fn case_mut(&mut self) -> &mut (dyn Case + 'a);
}

impl<'a> CaseSlot<'a> for Box<dyn Case + 'a> {
    fn case(&self) -> &(dyn Case + 'a) {
        &**self
    }
    fn case_mut(&mut self) -> &mut (dyn Case + 'a) {
        &mut **self
    }
}

impl<'a> CaseSlot<'a> for CaseRef<'_, 'a> {
    fn case(&self) -> &(dyn Case + 'a) {
        &*self.0
    }
    fn case_mut(&mut self) -> &mut (dyn Case + 'a) {
        &mut *self.0
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn chan(&self) -> &dyn ChanLock {
        self.chan
    }
    fn looks_ready(&self) -> bool {
        self.chan.recv_may_succeed()
    }
    fn try_now(&mut self) -> TryNow {
        // SAFETY: lock held (trait contract).
        match unsafe { self.chan.recv_locked() } {
            Ok((v, w)) => {
                self.result = Some(Ok(v));
                TryNow::Completed(w)
            }
            Err(RecvFail::Closed) => {
                self.result = Some(Err(RecvError));
                TryNow::Completed(None)
            }
            Err(RecvFail::Empty) => TryNow::WouldBlock,
        }
    }
    fn register(&mut self, claim: &Arc<Claim>, index: usize, me: &Unparker) {
        let w = Waiter::new(me.clone(), None, Some((claim.clone(), index)));
        // SAFETY: lock held (trait contract); the Box lives in `self.waiter` until it is
        // unregistered or collected, both under the lock (waitq protocol).
        unsafe { self.chan.locked() }.recvq.push(&w);
        *self.waiter = Some(w);
    }
    fn unregister(&mut self) {
        if let Some(w) = self.waiter.take() {
            // SAFETY: lock held (trait contract).
            unsafe { self.chan.locked() }.recvq.remove(&w);
        }
    }
    fn collect(&mut self) {
        let w = self
            .waiter
            .take()
            .expect("goro: select winner without a waiter");
        self.result = Some(match w.outcome() {
            // SAFETY: final outcome: the waker is done with the slot.
            DONE => Ok(unsafe { w.take() }.expect("goro: delivered value missing")),
            _ => Err(RecvError),
        });
    }
}

impl<T> Case for SendCase<'_, T> {
    fn chan(&self) -> &dyn ChanLock {
        self.chan
    }
    fn looks_ready(&self) -> bool {
        self.chan.send_may_succeed()
    }
    fn try_now(&mut self) -> TryNow {
        let v = self.value.take().expect("goro: send case without a value");
        // SAFETY: lock held (trait contract).
        match unsafe { self.chan.send_locked(v) } {
            Ok(w) => {
                self.result = Some(Ok(()));
                TryNow::Completed(w)
            }
            Err(SendFail::Closed(v)) => {
                self.result = Some(Err(SendError(v)));
                TryNow::Completed(None)
            }
            Err(SendFail::Full(v)) => {
                self.value = Some(v);
                TryNow::WouldBlock
            }
        }
    }
    fn register(&mut self, claim: &Arc<Claim>, index: usize, me: &Unparker) {
        let w = Waiter::new(me.clone(), self.value.take(), Some((claim.clone(), index)));
        // SAFETY: as for the receive case.
        unsafe { self.chan.locked() }.sendq.push(&w);
        *self.waiter = Some(w);
    }
    fn unregister(&mut self) {
        if let Some(w) = self.waiter.take() {
            // SAFETY: lock held (trait contract).
            if unsafe { self.chan.locked() }.sendq.remove(&w) {
                // SAFETY: removed under the lock: nobody else can reach the slot.
                self.value = unsafe { w.take() }; // dropped with the select
            }
        }
    }
    fn collect(&mut self) {
        let w = self
            .waiter
            .take()
            .expect("goro: select winner without a waiter");
        self.result = Some(match w.outcome() {
            DONE => Ok(()),
            // SAFETY: final outcome CLOSED: the waker left our value in the slot.
            CLOSED => Err(SendError(unsafe { w.take() }.expect("goro: value lost"))),
            o => unreachable!("goro: select winner with outcome {o}"),
        });
    }
}

/// A case dropped while its waiter is still queued (the selecting green thread was
/// unwound by shutdown while parked) withdraws it first, so no queue points at freed memory.
fn withdraw_on_drop<T>(chan: &Chan<T>, w: Box<Waiter<T>>) {
    if w.outcome() != crate::waitq::WAITING || chan.withdraw(&w) {
        return;
    }
    // Not queued any more: either a waker won our claim and is finishing (wait for its
    // last access), or it was skipped as a loser (nobody will touch it).
    let (claim, index) = w
        .select_claim()
        .expect("goro: select waiter without a claim");
    if claim.winner() == index {
        while w.outcome() == crate::waitq::WAITING {
            crate::loom::spin();
        }
    }
}

impl<T> Drop for RecvCase<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // `take` leaves `None` behind: nothing for the `ManuallyDrop` to leak.
        if let Some(w) = self.waiter.take() {
            withdraw_on_drop(self.chan, w);
        }
    }
}

impl<T> Drop for SendCase<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // As for `RecvCase`.
        if let Some(w) = self.waiter.take() {
            withdraw_on_drop(self.chan, w);
        }
    }
}

/// A select over a run-time set of cases (Go's `reflect.Select`; the engine of
/// [`select!`](crate::select)).
///
/// ```
/// use goro_chan::{bounded, Select};
/// let chans: Vec<_> = (0..4).map(|_| bounded::<u32>(1)).collect();
/// chans[2].0.send(42).unwrap();
/// let mut sel = Select::new();
/// let handles: Vec<_> = chans.iter().map(|(_, rx)| sel.recv(rx)).collect();
/// let fired = sel.select();
/// assert_eq!(fired, handles[2].index());
/// assert_eq!(sel.recv_result(handles[2]), Ok(42));
/// ```
pub struct Select<'a> {
    id: u64,
    cases: Vec<Box<dyn Case + 'a>>,
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

/// Names a receive case of one [`Select`]; turns into the received value with
/// [`Select::recv_result`].
#[derive(Debug)]
pub struct RecvHandle<T> {
    select: u64,
    index: usize,
    _t: PhantomData<fn() -> T>,
}

/// Names a send case of one [`Select`]; see [`Select::send_result`].
#[derive(Debug)]
pub struct SendHandle<T> {
    select: u64,
    index: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for RecvHandle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RecvHandle<T> {}
impl<T> Clone for SendHandle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendHandle<T> {}

impl<T> RecvHandle<T> {
    /// The case's index (what [`Select::select`] returns when it fires).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<T> SendHandle<T> {
    /// The case's index (what [`Select::select`] returns when it fires).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Select<'a> {
    /// An empty select (blocks forever, like Go's `select {}`, until cases are added).
    pub fn new() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        Select {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            cases: Vec::new(),
        }
    }

    /// Adds a receive case.
    pub fn recv<T: 'a>(&mut self, rx: &'a Receiver<T>) -> RecvHandle<T> {
        self.cases.push(Box::new(RecvCase::new(rx)));
        RecvHandle {
            select: self.id,
            index: self.cases.len() - 1,
            _t: PhantomData,
        }
    }

    /// Adds a send case; `v` is dropped when the select is dropped if the case does not fire.
    pub fn send<T: 'a>(&mut self, tx: &'a Sender<T>, v: T) -> SendHandle<T> {
        self.cases.push(Box::new(SendCase::new(tx, v)));
        SendHandle {
            select: self.id,
            index: self.cases.len() - 1,
            _t: PhantomData,
        }
    }

    /// Waits until one case completes; returns its index.
    pub fn select(&mut self) -> usize {
        self.run(true, None)
            .expect("goro: a blocking select returned without a case")
    }

    /// Completes a ready case, if any, without waiting (a select with `default`).
    pub fn try_select(&mut self) -> Option<usize> {
        self.run(false, None)
    }

    /// Waits at most `d` for a case to complete.
    pub fn select_timeout(&mut self, d: Duration) -> Option<usize> {
        match goro_runtime::now().checked_add(d) {
            Some(deadline) => self.run(true, Some(deadline)),
            None => Some(self.select()),
        }
    }

    /// The outcome of the receive case `h` (after it fired).
    ///
    /// Panics if `h` belongs to another select or its case did not fire.
    pub fn recv_result<T: 'a>(&mut self, h: RecvHandle<T>) -> Result<T, RecvError> {
        assert_eq!(
            h.select, self.id,
            "goro: RecvHandle used with another Select"
        );
        let case: *mut (dyn Case + 'a) = &mut *self.cases[h.index];
        // SAFETY: `h` was created by `recv::<T>` on this very select (id checked), which
        // pushed a `RecvCase<'a, T>` at `h.index`; cases are never removed or reordered.
        let case = unsafe { &mut *(case as *mut RecvCase<'a, T>) };
        case.result
            .take()
            .expect("goro: recv_result for a case that did not fire")
    }

    /// The outcome of the send case `h` (after it fired); `Err` hands the value back.
    ///
    /// Panics if `h` belongs to another select or its case did not fire.
    pub fn send_result<T: 'a>(&mut self, h: SendHandle<T>) -> Result<(), SendError<T>> {
        assert_eq!(
            h.select, self.id,
            "goro: SendHandle used with another Select"
        );
        let case: *mut (dyn Case + 'a) = &mut *self.cases[h.index];
        // SAFETY: as in `recv_result`, for a `SendCase<'a, T>` pushed by `send::<T>`.
        let case = unsafe { &mut *(case as *mut SendCase<'a, T>) };
        case.result
            .take()
            .expect("goro: send_result for a case that did not fire")
    }

    fn run(&mut self, block: bool, deadline: Option<Instant>) -> Option<usize> {
        run(&mut self.cases, block, deadline)
    }
}

/// selectgo over any slice of case slots (see the module docs for the passes).
fn run<'a, C: CaseSlot<'a>>(
    cases: &mut [C],
    block: bool,
    deadline: Option<Instant>,
) -> Option<usize> {
    let n = cases.len();
    if n == 0 {
        return run_empty(block, deadline);
    }
    // Before any lock: a bubble's channel used outside it panics (`Chan::check_bubble`).
    let mut outside = false;
    for c in cases.iter() {
        outside |= c.case().chan().check_bubble();
    }
    if let Some(i) = pass0(cases) {
        return Some(i);
    }
    // Go 1.23: an expired timer's channel is ready at the moment of the select. Fire the
    // due timers (before taking any channel lock: their callbacks send) so that two
    // expired timers are both ready below and pass 1 picks one at random.
    goro_runtime::__private::fire_due();
    let poll = poll_order(n);
    let locks = lock_order(cases);
    let locks = locks.as_slice();
    lock_all(cases, locks);

    // Pass 1.
    for &i in poll.as_slice() {
        if let TryNow::Completed(w) = cases[i].case_mut().try_now() {
            unlock_all(cases, locks);
            if let Some(w) = w {
                w.unpark();
            }
            return Some(i);
        }
    }
    if !block || deadline.is_some_and(|d| goro_runtime::now() >= d) {
        unlock_all(cases, locks);
        return None;
    }

    // Pass 2, in poll order: two cases on one channel queue their waiters in a random
    // order, so a waker picks either with equal probability (Go enqueues in a lockorder
    // built from pollorder "to permute cases on the same channel").
    let claim = Claim::new();
    let me = park::current();
    for &i in poll.as_slice() {
        cases[i].case_mut().register(&claim, i, &me);
    }
    park_locked(cases, locks, deadline, outside);

    // Pass 3.
    loop {
        lock_all(cases, locks);
        let winner = claim.winner();
        if winner < n {
            for (i, case) in cases.iter_mut().enumerate() {
                if i != winner {
                    case.case_mut().unregister();
                }
            }
            cases[winner].case_mut().collect();
            unlock_all(cases, locks);
            return Some(winner);
        }
        if deadline.is_some_and(|d| goro_runtime::now() >= d)
            && claim.try_win(crate::waitq::ABANDONED)
        {
            // We hold every lock, so no waker is between claiming and completing.
            cases.iter_mut().for_each(|c| c.case_mut().unregister());
            unlock_all(cases, locks);
            return None;
        }
        park_locked(cases, locks, deadline, outside); // spurious wake-up: our waiters are still queued
    }
}

/// Pass 0: among the cases whose channels *look* ready (lock-free hints), pick one
/// uniformly at random and try it under its own lock; repeat without it if the hint was
/// stale. Uniform among the ready cases, like a full poll order, but with one random draw
/// per try instead of a shuffle of every case — this is the path a busy select takes on
/// every call. Selects of more than 64 cases shuffle (`poll_order`) instead.
fn pass0<'a, C: CaseSlot<'a>>(cases: &mut [C]) -> Option<usize> {
    let n = cases.len();
    let try_case = |case: &mut (dyn Case + 'a)| {
        case.chan().lock();
        let done = case.try_now();
        case.chan().unlock();
        match done {
            TryNow::Completed(w) => {
                if let Some(w) = w {
                    w.unpark();
                }
                Some(())
            }
            TryNow::WouldBlock => None,
        }
    };
    if n > 64 {
        let poll = poll_order(n);
        return poll.as_slice().iter().copied().find(|&i| {
            let case = cases[i].case_mut();
            case.looks_ready() && try_case(case).is_some()
        });
    }
    let mut ready = 0u64;
    for (i, c) in cases.iter().enumerate() {
        if c.case().looks_ready() {
            ready |= 1 << i;
        }
    }
    while ready != 0 {
        let i = random_bit(ready);
        ready &= !(1 << i);
        if try_case(cases[i].case_mut()).is_some() {
            return Some(i);
        }
    }
    None
}

/// The index of a uniformly random set bit of `mask` (non-zero).
fn random_bit(mask: u64) -> usize {
    let k = mask.count_ones() as u64;
    let mut nth = if k == 1 {
        0
    } else {
        ((rand() & 0xFFFF) * k) >> 16
    };
    let mut m = mask;
    while nth > 0 {
        m &= m - 1; // drop the lowest set bit
        nth -= 1;
    }
    m.trailing_zeros() as usize
}

fn run_empty(block: bool, deadline: Option<Instant>) -> Option<usize> {
    if !block {
        return None;
    }
    loop {
        match deadline {
            Some(d) if goro_runtime::now() >= d => return None,
            Some(d) => park::park_until(WaitReason::Select, d, || {}),
            None => park::park(WaitReason::Select, || {}),
        }
    }
}

/// Parks with every lock held; the release step unlocks them after the switch.
fn park_locked<'a, C: CaseSlot<'a>>(
    cases: &[C],
    locks: &[usize],
    deadline: Option<Instant>,
    outside: bool,
) {
    let release = move || {
        for &i in locks {
            // The last iteration's unlock is the last access to select memory: the
            // loop only compares local iterator pointers afterwards.
            cases[i].case().chan().unlock();
        }
    };
    let on = goro_runtime::__private::waiting_on_select(cases.len());
    let on = goro_runtime::__private::outside_bubble(on, outside);
    match deadline {
        None => park::park_on(on, release),
        Some(d) => park::park_until_on(on, d, release),
    }
}

fn lock_all<'a, C: CaseSlot<'a>>(cases: &[C], locks: &[usize]) {
    for &i in locks {
        cases[i].case().chan().lock();
    }
}

fn unlock_all<'a, C: CaseSlot<'a>>(cases: &[C], locks: &[usize]) {
    for &i in locks {
        cases[i].case().chan().unlock();
    }
}

/// Case indices of distinct channels, sorted by channel address (Go's lockorder; a
/// channel that appears in several cases is locked once).
fn lock_order<'a, C: CaseSlot<'a>>(cases: &[C]) -> Order {
    let mut order = Order::identity(cases.len());
    let o = order.as_mut_slice();
    o.sort_unstable_by_key(|&i| cases[i].case().chan().addr());
    // Dedup in place: keep the first case of each channel.
    let mut k = 0;
    for r in 0..o.len() {
        if k == 0 || cases[o[k - 1]].case().chan().addr() != cases[o[r]].case().chan().addr() {
            o[k] = o[r];
            k += 1;
        }
    }
    match &mut order {
        Order::Small(_, n) => *n = k,
        Order::Large(v) => v.truncate(k),
    }
    order
}

/// Case indices, on the stack for the usual handful of cases.
enum Order {
    Small([usize; 8], usize),
    Large(Vec<usize>),
}

impl Order {
    fn identity(n: usize) -> Order {
        if n <= 8 {
            let mut a = [0; 8];
            (0..n).for_each(|i| a[i] = i);
            Order::Small(a, n)
        } else {
            Order::Large((0..n).collect())
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Order::Small(a, n) => &a[..*n],
            Order::Large(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [usize] {
        match self {
            Order::Small(a, n) => &mut a[..*n],
            Order::Large(v) => v,
        }
    }
}

/// A uniformly random permutation of `0..n` (Go's pollorder).
///
/// Each draw is 16 random bits scaled by multiply-shift (Go's `cheaprandn`), four draws per
/// 64-bit random number: no division on the hot path. The bias is below `n / 65536`.
fn poll_order(n: usize) -> Order {
    let mut order = Order::identity(n);
    let o = order.as_mut_slice();
    let (mut bits, mut left) = (0u64, 0);
    for i in (1..n).rev() {
        if left == 0 {
            (bits, left) = (rand(), 4);
        }
        let draw = bits & 0xFFFF;
        (bits, left) = (bits >> 16, left - 1);
        let j = ((draw * (i as u64 + 1)) >> 16) as usize;
        o.swap(i, j);
    }
    order
}

/// xorshift64*, per OS thread. Read and written without a park in between, so migration
/// between threads cannot tear it (and a stale state only changes the random stream). A
/// synctest bubble's worker thread is its own, so its stream starts from the bubble's seed.
#[cfg(not(loom))]
#[inline(never)]
fn rand() -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            // A synctest bubble's worker draws from the bubble's seed, so a run replays.
            let seed = match goro_runtime::__private::bubble_seed() {
                0 => s as *const _ as u64,
                seed => seed,
            };
            x = seed ^ 0x9E37_79B9_7F4A_7C15 | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Under loom an execution must be replayable, so the poll order is fixed; the model
/// explores the interleavings, not the random choice.
#[cfg(loom)]
fn rand() -> u64 {
    0
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Pass 0's choice is uniform over the set bits and never picks an unset one.
    #[test]
    fn random_bit_is_uniform_over_the_set_bits() {
        let mask = 0b1010_0100u64; // bits 2, 5, 7
        let mut counts = [0u32; 64];
        for _ in 0..30_000 {
            counts[random_bit(mask)] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            if mask & (1 << i) == 0 {
                assert_eq!(c, 0, "bit {i} is not set");
            } else {
                assert!((9_000..11_000).contains(&c), "bit {i}: {c} of 30000");
            }
        }
        assert_eq!(random_bit(1 << 63), 63);
    }

    /// The poll order is a permutation, each case first equally often.
    #[test]
    fn poll_order_is_a_uniform_permutation() {
        let mut first = [0u32; 5];
        for _ in 0..25_000 {
            let order = poll_order(5);
            let mut seen: Vec<usize> = order.as_slice().to_vec();
            first[seen[0]] += 1;
            seen.sort_unstable();
            assert_eq!(seen, [0, 1, 2, 3, 4]);
        }
        for (i, &c) in first.iter().enumerate() {
            assert!((4_000..6_000).contains(&c), "case {i} first {c} of 25000");
        }
    }
}
