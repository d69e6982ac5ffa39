//! Channel operations as futures: `Receiver::recv_async` and `Sender::send_async` park an
//! async *task*, not a thread, in the same wait queues as green threads and `select!`.
//!
//! # How a task waits in an hchan
//! A future's first poll tries the operation under the channel lock, like `recv`/`send`.
//! If it must wait, it queues a [`Waiter`] whose `Unparker` is the task's `Waker`
//! (`Unparker::from_waker`) and returns `Pending`. Wakers treat it as any other waiter: a
//! sender copies its value straight into the waiter's slot and wakes the task (Go's direct
//! hand-off), a receiver takes a queued sender's value, `close` finishes it with
//! `CLOSED`. A later poll reads the final outcome; if there is none yet it refreshes the
//! waker under the lock (the task may have moved to another executor thread or another
//! `Waker`).
//!
//! # Invariants (on top of `hchan.rs` and `waitq.rs`)
//! 1. Under the channel lock, a plain waiter's outcome is `WAITING` exactly while it is
//!    queued (wakers dequeue and finish it in one critical section). So the owner may
//!    replace its `Unparker` under the lock when it sees `WAITING`, and a withdrawal that
//!    fails under the lock means the outcome is already final.
//! 2. **Cancellation never loses a value that was sent.** A receive future dropped after
//!    a sender delivered into its waiter gives the value back to the channel
//!    ([`Chan::give_back`]): to the first waiting receiver, else to the head of the ring,
//!    which grows past the capacity if it must (`hchan.rs`, invariant 5), so the next
//!    receive gets it. The sender's `Ok` stays true: the value is in the channel.
//! 3. A send future dropped before its value was taken withdraws it: the send did not
//!    happen and the value is dropped with the future, as any value a dropped future
//!    owns.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use goro_runtime::park::Unparker;

use crate::error::{RecvError, SendError};
use crate::hchan::{wake, Chan, RecvFail, SendFail};
use crate::waitq::{Waiter, CLOSED, DONE, WAITING};

/// What a poll of a queued waiter found.
enum Queued {
    /// Still queued; the task's waker is refreshed.
    Waiting,
    /// Completed with this outcome (`DONE` or `CLOSED`).
    Final(u8),
}

impl<T> Chan<T> {
    /// Reads the outcome of `w` (queued by a previous poll), or refreshes its waker.
    fn poll_queued(&self, w: &Waiter<T>, cx: &Context<'_>) -> Queued {
        let outcome = w.outcome();
        if outcome != WAITING {
            return Queued::Final(outcome);
        }
        self.lock.lock();
        if w.outcome() == WAITING {
            // SAFETY: lock held and the waiter is still queued (invariant 1).
            unsafe { w.set_unparker(Unparker::from_waker(cx.waker().clone())) };
            self.unlock();
            return Queued::Waiting;
        }
        self.unlock();
        Queued::Final(w.outcome())
    }

    /// Takes `w` out of its queue; false if a waker finished it first (invariant 1).
    fn withdraw_queued(&self, w: &Waiter<T>) -> bool {
        w.outcome() == WAITING && self.withdraw(w)
    }

    /// A value an async receiver was given but dropped goes back (invariant 2).
    fn give_back(&self, v: T) {
        self.lock.lock();
        // SAFETY: lock held.
        let s = unsafe { self.locked() };
        if let Some(r) = s.recvq.dequeue() {
            // SAFETY: just dequeued under the lock (waitq protocol).
            let u = unsafe {
                let r = r.get();
                r.put(v);
                r.finish(DONE)
            };
            self.unlock();
            u.unpark();
            return;
        }
        if s.rx_gone {
            self.unlock();
            drop(v); // every receiver is gone: dropped as buffered values are
            return;
        }
        s.ring.push_front_growing(v);
        self.unlock();
    }
}

/// The future of [`Receiver::recv_async`](crate::Receiver::recv_async).
///
/// **Cancel-safe:** dropping it never loses a value. If a sender had already handed it a
/// value, the value goes back to the channel and the next receive gets it.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    waiter: Option<Box<Waiter<T>>>,
    done: bool,
}

impl<'a, T> RecvFuture<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Self {
        RecvFuture {
            chan,
            waiter: None,
            done: false,
        }
    }
}

impl<T> std::fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFuture")
            .field("queued", &self.waiter.is_some())
            .finish()
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "goro: RecvFuture polled after it completed");
        let chan = self.chan;
        let r = match &self.waiter {
            Some(w) => match chan.poll_queued(w, cx) {
                Queued::Waiting => return Poll::Pending,
                Queued::Final(DONE) => {
                    let w = self.waiter.take().expect("queued");
                    // SAFETY: final outcome DONE: the waker put the value and is gone.
                    Ok(unsafe { w.take() }.expect("goro: delivered value missing"))
                }
                Queued::Final(_) => {
                    self.waiter = None;
                    Err(RecvError)
                }
            },
            None => {
                chan.lock.lock();
                // SAFETY: lock held.
                match unsafe { chan.recv_locked() } {
                    Ok((v, sender)) => {
                        chan.unlock();
                        wake(sender);
                        Ok(v)
                    }
                    Err(RecvFail::Closed) => {
                        chan.unlock();
                        Err(RecvError)
                    }
                    Err(RecvFail::Empty) => {
                        let me = Unparker::from_waker(cx.waker().clone());
                        let w = Waiter::new(me, None, None);
                        // SAFETY: lock held; the box lives in `self` while it is queued,
                        // and `Drop` withdraws it (waitq protocol).
                        unsafe { chan.locked() }.recvq.push(&w);
                        chan.unlock();
                        self.waiter = Some(w);
                        return Poll::Pending;
                    }
                }
            }
        };
        self.done = true;
        Poll::Ready(r)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        if self.chan.withdraw_queued(&w) {
            return;
        }
        if w.outcome() == DONE {
            // SAFETY: final outcome DONE: the value is ours (invariant 2 gives it back).
            if let Some(v) = unsafe { w.take() } {
                self.chan.give_back(v);
            }
        }
    }
}

/// The future of [`Sender::send_async`](crate::Sender::send_async).
///
/// **Not a lossless cancel:** dropping it before the value was taken withdraws the send,
/// and the value is dropped with the future (it was never sent). Once it returned
/// `Ready(Ok)`, or a receiver took the value, the send happened.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    waiter: Option<Box<Waiter<T>>>,
}

impl<'a, T> SendFuture<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>, v: T) -> Self {
        SendFuture {
            chan,
            value: Some(v),
            waiter: None,
        }
    }
}

// The value is moved in and out whole, never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> std::fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("queued", &self.waiter.is_some())
            .finish()
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let chan = self.chan;
        if let Some(w) = &self.waiter {
            return match chan.poll_queued(w, cx) {
                Queued::Waiting => Poll::Pending,
                Queued::Final(outcome) => {
                    let w = self.waiter.take().expect("queued");
                    if outcome == CLOSED {
                        // SAFETY: final outcome CLOSED: the waker left the value in place.
                        let v = unsafe { w.take() }.expect("goro: value lost");
                        Poll::Ready(Err(SendError(v)))
                    } else {
                        Poll::Ready(Ok(()))
                    }
                }
            };
        }
        let v = self
            .value
            .take()
            .expect("goro: SendFuture polled after it completed");
        chan.lock.lock();
        // SAFETY: lock held.
        match unsafe { chan.send_locked(v) } {
            Ok(receiver) => {
                chan.unlock();
                wake(receiver);
                Poll::Ready(Ok(()))
            }
            Err(SendFail::Closed(v)) => {
                chan.unlock();
                Poll::Ready(Err(SendError(v)))
            }
            Err(SendFail::Full(v)) => {
                let me = Unparker::from_waker(cx.waker().clone());
                let w = Waiter::new(me, Some(v), None);
                // SAFETY: as in `RecvFuture::poll`.
                unsafe { chan.locked() }.sendq.push(&w);
                chan.unlock();
                self.waiter = Some(w);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            // Withdrawn: the box drops the value (invariant 3). Not withdrawn: the outcome
            // is final — sent, or closed with the value dropped with the box.
            self.chan.withdraw_queued(&w);
        }
    }
}
