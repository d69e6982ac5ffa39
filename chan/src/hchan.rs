//! Channel core: one lock, a ring buffer, two wait queues (Go's `hchan`).
//!
//! Ported in spirit from Go's `src/runtime/chan.go`; the code is goro's own.
//!
//! # Invariants (hold whenever `lock` is free)
//! 1. At least one of `sendq` and `recvq` is empty, except when one select waits on both
//!    directions of the same channel.
//! 2. `ring.len() > 0` implies `recvq` is empty; `ring.len() < cap` implies `sendq` is
//!    empty. An unbuffered channel (`cap == 0`) never buffers: every send hands off.
//! 3. Once `closed` is set it is never cleared, and `sendq` is empty while `closed`.
//! 4. The `*_hint` atomics mirror `ring.len()`, `closed` and the queue lengths; they are
//!    written under the lock and read without it only by non-blocking fast paths.
//! 5. The ring holds more than `cap` values (an unbuffered channel holds any) only after
//!    a value delivered to an async receiver (`future.rs`) came back because its future
//!    was dropped before taking it, with no receiver waiting: it goes to the head of the
//!    ring, which grows if it must, and is received first. Sends count against `cap`, not
//!    the ring's size, so the overfill only drains; invariant 2's `ring.len() > 0 ⇒ recvq
//!    empty` holds for it too.
//!
//! # Locking
//! `lock` guards `state` and the waiters linked into its queues. Never unpark while holding
//! it: the locked operations return the `Unparker` to wake, and the caller wakes it after
//! unlocking (Go: "do not ready a G while holding this lock").
//!
//! # Closing
//! `close` (explicit, or the last `Sender` dropping) wakes every receiver with `Closed` and
//! every parked sender with its value handed back. Receivers drain what is buffered first.
//! When the last `Receiver` drops, the buffer is dropped and senders (parked and future)
//! get their values back: `rx_gone` closes the send side only. Then the channel's
//! `on_receivers_gone` hook runs, outside the lock (a timer channel cancels its timer).

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::time::Instant;

use goro_runtime::park::{self, Unparker, WaitReason};

use crate::lock::RawLock;
use crate::loom::{spin, AtomicBool, AtomicUsize, Ordering};
use crate::ring::Ring;
use crate::waitq::{WaitQueue, Waiter, CLOSED, DONE, WAITING};

/// Field order is the access order of a buffered send/receive (see [`Chan`]'s layout note).
#[repr(C)]
pub(crate) struct State<T> {
    pub(crate) ring: Ring<T>,
    pub(crate) closed: bool,
    /// Every receiver is gone: sends fail (the buffer was dropped).
    pub(crate) rx_gone: bool,
    pub(crate) recvq: WaitQueue<T>,
    pub(crate) sendq: WaitQueue<T>,
    /// Run once when the last receiver is gone (a timer channel cancels its timer).
    pub(crate) on_receivers_gone: Option<Box<dyn FnOnce() + Send>>,
}

/// Why a non-blocking send did not complete.
pub(crate) enum SendFail<T> {
    Full(T),
    Closed(T),
}

/// Why a non-blocking receive did not complete.
pub(crate) enum RecvFail {
    Empty,
    Closed,
}

/// Layout: every send and receive touches the lock, the hints and the ring's indices, and
/// the parties are usually on different cores, so those come first and share as few cache
/// lines as possible (`repr(C)` keeps the order); the wait queues follow, the handle
/// counts (touched on clone and drop only) come last.
#[repr(C)]
pub(crate) struct Chan<T> {
    pub(crate) lock: RawLock,
    closed_hint: AtomicBool,
    cap: usize,
    len_hint: AtomicUsize,
    recv_waiters_hint: AtomicUsize,
    send_waiters_hint: AtomicUsize,
    state: UnsafeCell<State<T>>,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    /// A timer channel: `len` and `capacity` answer 0, as Go 1.23's synchronous timer
    /// channels do, although one value is buffered (`time.rs`).
    unbuffered_view: AtomicBool,
    /// The synctest bubble the channel was made in (`goro::synctest`), 0 if none: only
    /// that bubble's green threads may use it, and only its waits are durable there.
    bubble: u64,
}

// SAFETY: `state` is only accessed with `lock` held (see `locked`); values of type `T: Send`
// move between threads through it.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Arc<Chan<T>> {
        Arc::new(Chan {
            lock: RawLock::default(),
            state: UnsafeCell::new(State {
                ring: Ring::new(cap),
                recvq: WaitQueue::default(),
                sendq: WaitQueue::default(),
                closed: false,
                rx_gone: false,
                on_receivers_gone: None,
            }),
            cap,
            len_hint: AtomicUsize::new(0),
            closed_hint: AtomicBool::new(false),
            recv_waiters_hint: AtomicUsize::new(0),
            send_waiters_hint: AtomicUsize::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            unbuffered_view: AtomicBool::new(false),
            bubble: goro_runtime::__private::current_bubble(),
        })
    }

    /// Makes `len` and `capacity` report an unbuffered channel (a timer channel).
    pub(crate) fn report_unbuffered(&self) {
        self.unbuffered_view.store(true, Ordering::Relaxed);
    }

    /// The length users see: 0 for a timer channel.
    pub(crate) fn visible_len(&self) -> usize {
        if self.unbuffered_view.load(Ordering::Relaxed) {
            0
        } else {
            self.len()
        }
    }

    /// The capacity users see: 0 for a timer channel.
    pub(crate) fn visible_cap(&self) -> usize {
        if self.unbuffered_view.load(Ordering::Relaxed) {
            0
        } else {
            self.cap
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len_hint.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed_hint.load(Ordering::Acquire)
    }

    /// Address used to order locks in `select` (Go's lockorder).
    pub(crate) fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Panics if the channel belongs to a synctest bubble the caller is not in (Go's
    /// "send on synctest channel from outside bubble"). One load and a branch for a
    /// channel made outside any bubble. Called before the lock is taken.
    #[inline]
    pub(crate) fn check_bubble(&self) {
        if self.bubble != 0 {
            outside_its_bubble(self.bubble);
        }
    }

    /// True if a wait on this channel cannot be durable in a bubble (made outside one).
    pub(crate) fn outside_bubble(&self) -> bool {
        self.bubble == 0
    }

    /// The state, for code that holds the lock.
    ///
    /// # Safety
    /// The caller holds `lock` for as long as it uses the reference.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn locked(&self) -> &mut State<T> {
        // SAFETY: forwarded: exclusive while the lock is held.
        unsafe { &mut *self.state.get() }
    }

    /// Refreshes the lock-free mirrors (invariant 4). Called before unlocking.
    fn sync_hints(&self, s: &State<T>) {
        self.len_hint.store(s.ring.len(), Ordering::Relaxed);
        self.recv_waiters_hint
            .store(s.recvq.len(), Ordering::Relaxed);
        self.send_waiters_hint
            .store(s.sendq.len(), Ordering::Relaxed);
        if s.closed || s.rx_gone {
            // Release: a fast path that sees `closed` also sees the state before it.
            self.closed_hint.store(true, Ordering::Release);
        }
    }

    /// Go's `full(c)`: a non-blocking send would certainly fail right now.
    fn looks_full(&self) -> bool {
        if self.cap == 0 {
            self.recv_waiters_hint.load(Ordering::Relaxed) == 0
        } else {
            self.len_hint.load(Ordering::Relaxed) >= self.cap
        }
    }

    /// Go's `empty(c)`: a non-blocking receive would certainly fail right now.
    fn looks_empty(&self) -> bool {
        if self.cap == 0 {
            self.send_waiters_hint.load(Ordering::Relaxed) == 0
                && self.len_hint.load(Ordering::Relaxed) == 0 // invariant 5
        } else {
            self.len_hint.load(Ordering::Relaxed) == 0
        }
    }

    /// Lock-free hint for select's pass 0: a receive might complete now (value, parked
    /// sender, or closed).
    pub(crate) fn recv_may_succeed(&self) -> bool {
        !self.looks_empty() || self.is_closed()
    }

    /// Lock-free hint for select's pass 0: a send might complete now.
    pub(crate) fn send_may_succeed(&self) -> bool {
        !self.looks_full() || self.is_closed()
    }

    // ---- operations with the lock held (shared with select) ----

    /// Tries to send. On success returns the receiver to wake (after unlocking).
    ///
    /// # Safety
    /// The caller holds `lock`.
    pub(crate) unsafe fn send_locked(&self, v: T) -> Result<Option<Unparker>, SendFail<T>> {
        // SAFETY: lock held (contract).
        let s = unsafe { self.locked() };
        if s.closed || s.rx_gone {
            return Err(SendFail::Closed(v));
        }
        if let Some(w) = s.recvq.dequeue() {
            // Direct handoff: straight into the receiver's slot, never through the buffer.
            // SAFETY: `w` was just dequeued under the lock (waitq protocol).
            unsafe {
                let w = w.get();
                w.put(v);
                return Ok(Some(w.finish(DONE)));
            }
        }
        if s.ring.len() < self.cap {
            s.ring.push(v);
            return Ok(None);
        }
        Err(SendFail::Full(v))
    }

    /// Tries to receive. On success returns the value and the sender to wake.
    ///
    /// # Safety
    /// The caller holds `lock`.
    pub(crate) unsafe fn recv_locked(&self) -> Result<(T, Option<Unparker>), RecvFail> {
        // SAFETY: lock held (contract).
        let s = unsafe { self.locked() };
        if let Some(w) = s.sendq.dequeue() {
            // SAFETY: `w` was just dequeued under the lock (waitq protocol); a queued
            // sender always holds its value.
            let (sent, unparker) = unsafe {
                let w = w.get();
                (
                    w.take().expect("goro: parked sender without a value"),
                    w.finish(DONE),
                )
            };
            let v = match s.ring.pop() {
                // Full buffer (invariant 2), or values given back (invariant 5): take the
                // head, the sender's value goes to the tail, so FIFO order is kept (Go's
                // `recv`).
                Some(head) => {
                    s.ring.push(sent);
                    head
                }
                None => sent, // unbuffered: direct handoff
            };
            return Ok((v, Some(unparker)));
        }
        if let Some(v) = s.ring.pop() {
            return Ok((v, None));
        }
        if s.closed {
            return Err(RecvFail::Closed);
        }
        Err(RecvFail::Empty)
    }

    /// Refreshes the hints and releases the lock. The release store is the last access to
    /// the channel (select's park relies on it, see `select.rs`).
    ///
    /// Must be called with `lock` held.
    pub(crate) fn unlock(&self) {
        // SAFETY: only called by code holding the lock.
        self.sync_hints(unsafe { self.locked() });
        self.lock.unlock();
    }

    // ---- public operations ----

    pub(crate) fn try_send(&self, v: T) -> Result<(), SendFail<T>> {
        self.check_bubble();
        if self.looks_full() && !self.is_closed() {
            return Err(SendFail::Full(v));
        }
        self.lock.lock();
        // SAFETY: lock held.
        let r = unsafe { self.send_locked(v) };
        self.unlock();
        r.map(wake)
    }

    pub(crate) fn try_recv(&self) -> Result<T, RecvFail> {
        self.check_bubble();
        if self.looks_empty() && !self.is_closed() {
            // Go's fast path re-checks emptiness after seeing "not closed"; we lock when in
            // doubt instead, which is never wrong.
            return Err(RecvFail::Empty);
        }
        self.lock.lock();
        // SAFETY: lock held.
        let r = unsafe { self.recv_locked() };
        self.unlock();
        r.map(|(v, w)| {
            wake(w);
            v
        })
    }

    /// Blocking send; `deadline` bounds the wait. `Err(Full(v))` means timed out.
    pub(crate) fn send(&self, v: T, deadline: Option<Instant>) -> Result<(), SendFail<T>> {
        self.check_bubble();
        self.lock.lock();
        // SAFETY: lock held.
        let v = match unsafe { self.send_locked(v) } {
            Ok(w) => {
                self.unlock();
                wake(w);
                return Ok(());
            }
            Err(SendFail::Closed(v)) => {
                self.unlock();
                return Err(SendFail::Closed(v));
            }
            Err(SendFail::Full(v)) => v,
        };
        if deadline.is_some_and(|d| goro_runtime::now() >= d) {
            self.unlock();
            return Err(SendFail::Full(v));
        }
        let w = Queued::new(self, Waiter::for_current(Some(v)));
        // SAFETY: lock held; `Queued` keeps the waiter alive while it is queued, also if
        // this green thread is unwound while parked (waitq protocol).
        unsafe { self.locked() }.sendq.push(&w.w);
        let w = w.park(WaitReason::ChanSend, deadline);
        let r = match w.outcome() {
            DONE => Ok(()),
            // SAFETY: final outcome CLOSED: the waker left the value in the slot.
            CLOSED => Err(SendFail::Closed(
                unsafe { w.take() }.expect("goro: value lost"),
            )),
            // SAFETY: `park_on` returns WAITING only after removing `w` from the queue
            // under the lock (timeout): nobody else can touch it.
            _ => Err(SendFail::Full(
                unsafe { w.take() }.expect("goro: value lost"),
            )),
        };
        goro_runtime::__private::free_waiter(w);
        r
    }

    /// Blocking receive; `deadline` bounds the wait. `Err(Empty)` means timed out.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvFail> {
        self.check_bubble();
        self.lock.lock();
        // SAFETY: lock held.
        match unsafe { self.recv_locked() } {
            Ok((v, w)) => {
                self.unlock();
                wake(w);
                return Ok(v);
            }
            Err(RecvFail::Closed) => {
                self.unlock();
                return Err(RecvFail::Closed);
            }
            Err(RecvFail::Empty) => {}
        }
        if deadline.is_some_and(|d| goro_runtime::now() >= d) {
            self.unlock();
            return Err(RecvFail::Empty);
        }
        let w = Queued::new(self, Waiter::for_current(None));
        // SAFETY: as in `send`.
        unsafe { self.locked() }.recvq.push(&w.w);
        let w = w.park(WaitReason::ChanRecv, deadline);
        let r = match w.outcome() {
            // SAFETY: final outcome DONE: the waker put the value and will not touch it.
            DONE => Ok(unsafe { w.take() }.expect("goro: delivered value missing")),
            CLOSED => Err(RecvFail::Closed),
            _ => Err(RecvFail::Empty),
        };
        goro_runtime::__private::free_waiter(w);
        r
    }

    /// Parks until `w` has an outcome, or the deadline passed and `w` was withdrawn.
    /// Entered with the lock held (and `w` queued); returns without it.
    fn park_on(&self, w: &Waiter<T>, reason: WaitReason, deadline: Option<Instant>) {
        let release = || self.unlock();
        let on = goro_runtime::__private::waiting_on_channel(reason, self, self.cap);
        let on = goro_runtime::__private::outside_bubble(on, self.outside_bubble());
        match deadline {
            None => park::park_on(on, release),
            Some(d) => park::park_until_on(on, d, release),
        }
        loop {
            if w.outcome() != WAITING {
                return;
            }
            if let Some(d) = deadline {
                if goro_runtime::now() >= d {
                    if self.withdraw(w) {
                        return; // withdrawn: outcome stays WAITING
                    }
                    // A waker dequeued it before we locked: its outcome is being set.
                    while w.outcome() == WAITING {
                        spin();
                    }
                    return;
                }
                park::park_until_on(on, d, || {});
            } else {
                park::park_on(on, || {});
            }
        }
    }

    /// Takes `w` out of its queue, under the lock. False if a waker dequeued it first.
    pub(crate) fn withdraw(&self, w: &Waiter<T>) -> bool {
        self.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.locked() };
        let removed = s.sendq.remove(w) || s.recvq.remove(w);
        self.unlock();
        removed
    }

    /// Closes the channel. True if this call closed it.
    pub(crate) fn close(&self) -> bool {
        self.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.locked() };
        if s.closed {
            self.unlock();
            return false;
        }
        s.closed = true;
        let mut waiters = s.recvq.drain_claimed();
        waiters.extend(s.sendq.drain_claimed());
        // SAFETY: each was just dequeued under the lock (waitq protocol).
        let wake_list: Vec<Unparker> = waiters
            .iter()
            .map(|w| unsafe { w.get().finish(CLOSED) })
            .collect();
        self.unlock();
        for u in wake_list {
            u.unpark();
        }
        true
    }

    /// Sets what runs when the last receiver is gone (or runs it now if that happened).
    pub(crate) fn set_on_receivers_gone(&self, f: Box<dyn FnOnce() + Send>) {
        self.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.locked() };
        let run_now = if s.rx_gone {
            Some(f)
        } else {
            s.on_receivers_gone = Some(f);
            None
        };
        self.unlock();
        if let Some(f) = run_now {
            f();
        }
    }

    /// The last receiver is gone: drop the buffer, fail parked and future sends.
    pub(crate) fn disconnect_receivers(&self) {
        self.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.locked() };
        s.rx_gone = true;
        self.closed_hint.store(true, Ordering::Release); // `Sender::is_closed` says so now
        let mut dropped = Vec::with_capacity(s.ring.len());
        while let Some(v) = s.ring.pop() {
            dropped.push(v);
        }
        let waiters = s.sendq.drain_claimed();
        let hook = s.on_receivers_gone.take();
        // SAFETY: each was just dequeued under the lock (waitq protocol).
        let wake_list: Vec<Unparker> = waiters
            .iter()
            .map(|w| unsafe { w.get().finish(CLOSED) })
            .collect();
        self.unlock();
        if let Some(hook) = hook {
            hook();
        }
        drop(dropped); // user destructors run outside the lock
        for u in wake_list {
            u.unpark();
        }
    }
}

#[cold]
#[inline(never)]
fn outside_its_bubble(bubble: u64) {
    if goro_runtime::__private::current_bubble() != bubble {
        panic!(
            "goro: a channel made inside a synctest bubble was used outside that bubble \
             (from another runtime, an OS thread or another bubble); Go panics the same way"
        );
    }
}

/// The part of a channel `select` needs without knowing `T`: its address (lock order) and
/// its lock, released exactly as the channel's own operations release it.
pub(crate) trait ChanLock {
    fn addr(&self) -> usize;
    /// `Chan::check_bubble`; true if made outside any bubble (`Chan::outside_bubble`).
    fn check_bubble(&self) -> bool;
    fn lock(&self);
    /// Must be called with the lock held.
    fn unlock(&self);
}

impl<T> ChanLock for Chan<T> {
    fn addr(&self) -> usize {
        Chan::addr(self)
    }
    fn check_bubble(&self) -> bool {
        Chan::check_bubble(self);
        self.outside_bubble()
    }
    fn lock(&self) {
        self.lock.lock();
    }
    fn unlock(&self) {
        Chan::unlock(self);
    }
}

/// A waiter linked into one of `chan`'s queues, owned by the parked party. Dropping it
/// while still queued — a green thread unwound by shutdown while parked — withdraws it
/// under the lock first, so no queue ever points at freed memory.
struct Queued<'c, T> {
    chan: &'c Chan<T>,
    w: Box<Waiter<T>>,
}

impl<'c, T> Queued<'c, T> {
    fn new(chan: &'c Chan<T>, w: Box<Waiter<T>>) -> Self {
        Queued { chan, w }
    }

    /// Parks until the waiter has an outcome or was withdrawn (timeout); it is then out of
    /// every queue and the box is handed back.
    ///
    /// If the green thread is unwound while parked (its runtime was dropped), `self` is
    /// dropped on the way out: `Drop` withdraws the waiter, and the box — with a sender's
    /// value still in it — is freed, dropping the value. Only a normal return disarms it.
    fn park(self, reason: WaitReason, deadline: Option<Instant>) -> Box<Waiter<T>> {
        self.chan.park_on(&self.w, reason, deadline);
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used again; the box is moved out exactly once.
        unsafe { std::ptr::read(&this.w) }
    }
}

impl<T> Drop for Queued<'_, T> {
    fn drop(&mut self) {
        if self.w.outcome() == WAITING && !self.chan.withdraw(&self.w) {
            // A waker dequeued it and is about to publish the outcome (its last access).
            while self.w.outcome() == WAITING {
                spin();
            }
        }
    }
}

/// Wakes the party a locked operation handed back, if any (after unlocking).
pub(crate) fn wake(w: Option<Unparker>) {
    if let Some(w) = w {
        w.unpark();
    }
}
