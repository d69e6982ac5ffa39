//! `Sender<T>` and `Receiver<T>`: the two ends of one `Chan<T>`, counted so that the last
//! `Sender` dropping closes the channel and the last `Receiver` dropping fails every send.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::*;
use crate::hchan::{Chan, RecvFail, SendFail};
use crate::iter::{IntoIter, Iter, TryIter};

/// Creates a channel of capacity `cap` (Go's `make(chan T, cap)`); `cap == 0` is an
/// unbuffered rendezvous: a send completes only when a receiver has taken the value.
///
/// Panics with a message naming `cap` if the buffer cannot be allocated.
///
/// ```
/// let (tx, rx) = goro_chan::bounded(1);
/// tx.send(7).unwrap();
/// assert_eq!(rx.recv(), Ok(7));
/// drop(tx); // the last Sender closes the channel
/// assert!(rx.recv().is_err());
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(cap);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A receiver that never delivers (Go's nil channel): a `recv` case on it never fires.
pub fn never<T>() -> Receiver<T> {
    let (tx, rx) = bounded(0);
    tx.detach(); // no Sender will ever close it
    rx
}

/// The sending end. `Clone` for many producers; `Send + Sync` when `T: Send`.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The receiving end. `Clone` for many consumers; `Send + Sync` when `T: Send`.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

fn deadline(d: Duration) -> Option<Instant> {
    goro_runtime::now().checked_add(d)
}

// Like crossbeam-channel's: a channel is never left half-updated by a panic (values move
// in and out whole, under its lock), so its handles may cross `catch_unwind`.
impl<T> std::panic::UnwindSafe for Sender<T> {}
impl<T> std::panic::RefUnwindSafe for Sender<T> {}
impl<T> std::panic::UnwindSafe for Receiver<T> {}
impl<T> std::panic::RefUnwindSafe for Receiver<T> {}

impl<T> Sender<T> {
    /// Sends `v`, parking the green thread (or blocking the OS thread) while the buffer
    /// is full, or — unbuffered — until a receiver takes it. `Err` hands `v` back if the
    /// channel is closed (also when closed while we wait) or every receiver is gone.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        self.chan.send(v, None).map_err(|e| match e {
            SendFail::Closed(v) | SendFail::Full(v) => SendError(v),
        })
    }

    /// Sends from async code: the future parks the *task* (not its thread) while the
    /// buffer is full or, unbuffered, until a receiver takes the value. It waits in the
    /// same queue as green threads and `select!`, so async and green parties mix freely
    /// on one channel. `Err` hands the value back as [`send`](Self::send) does.
    ///
    /// Cancellation: dropping the future before a receiver took the value withdraws the
    /// send and drops the value with it; once the value was taken, the send happened.
    ///
    /// ```
    /// let rt = goro_runtime::Runtime::new().unwrap();
    /// let (tx, rx) = goro_chan::bounded(0);
    /// let h = rt.spawn(move || rx.recv().unwrap());
    /// goro_runtime::block_on(tx.send_async(5)).unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// ```
    pub fn send_async(&self, v: T) -> crate::future::SendFuture<'_, T> {
        crate::future::SendFuture::new(&self.chan, v)
    }

    /// Sends without waiting: `Full` if there is no room (unbuffered: no receiver waiting).
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(v).map_err(|e| match e {
            SendFail::Full(v) => TrySendError::Full(v),
            SendFail::Closed(v) => TrySendError::Closed(v),
        })
    }

    /// Like [`send`](Self::send), giving up after `d` (any `Duration`, `MAX` included).
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan.send(v, deadline(d)).map_err(|e| match e {
            SendFail::Full(v) => SendTimeoutError::Timeout(v),
            SendFail::Closed(v) => SendTimeoutError::Closed(v),
        })
    }

    /// Closes the channel (Go's `close(ch)`). True if this call closed it. Receivers drain
    /// what is buffered, then get `Err`; parked senders get their values back.
    pub fn close(&self) -> bool {
        self.chan.check_bubble();
        self.chan.close()
    }

    /// Values buffered right now (0 for a timer channel, as Go 1.23's).
    pub fn len(&self) -> usize {
        self.chan.visible_len()
    }

    /// True if nothing is buffered right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the buffer is full right now. An unbuffered channel is always full (it
    /// holds nothing; a send waits for a receiver), as in crossbeam-channel.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The buffer's capacity (0: unbuffered; also 0 for a timer channel, as Go 1.23's).
    pub fn capacity(&self) -> usize {
        self.chan.visible_cap()
    }

    /// True once the channel is closed (or every receiver is gone).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// True if both ends belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Gives up this sender without letting it count towards closing (timer channels,
    /// `never`): the channel stays open even when no `Sender` is left.
    pub(crate) fn detach(self) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we take its Arc out exactly once.
        drop(unsafe { std::ptr::read(&this.chan) });
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking while the channel is empty. `Err` once the channel is
    /// closed *and* drained (Go's `v, ok := <-ch` with `ok == false`).
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Receives from async code: the future parks the *task* (not its thread) until a value
    /// arrives; `Err` once the channel is closed and drained, as [`recv`](Self::recv).
    /// Waits in the same queue as green threads and `select!`.
    ///
    /// Cancel-safe: a value a sender handed to the future before it was dropped goes back
    /// to the channel, and the next receive gets it.
    ///
    /// ```
    /// let rt = goro_runtime::Runtime::new().unwrap();
    /// let (tx, rx) = goro_chan::bounded(0);
    /// rt.spawn(move || tx.send(3).unwrap());
    /// assert_eq!(goro_runtime::block_on(rx.recv_async()), Ok(3));
    /// ```
    pub fn recv_async(&self) -> crate::future::RecvFuture<'_, T> {
        crate::future::RecvFuture::new(&self.chan)
    }

    /// Receives without waiting: `Empty` if nothing is there (unbuffered: no sender waiting).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv().map_err(|e| match e {
            RecvFail::Empty => TryRecvError::Empty,
            RecvFail::Closed => TryRecvError::Closed,
        })
    }

    /// Like [`recv`](Self::recv), giving up after `d` (any `Duration`, `MAX` included).
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(deadline(d)).map_err(|e| match e {
            RecvFail::Empty => RecvTimeoutError::Timeout,
            RecvFail::Closed => RecvTimeoutError::Closed,
        })
    }

    /// A blocking iterator that ends when the channel is closed and drained (Go's
    /// `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over what can be received without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Closes the channel from the receiving side. True if this call closed it.
    pub fn close(&self) -> bool {
        self.chan.check_bubble();
        self.chan.close()
    }

    /// Values buffered right now (0 for a timer channel, as Go 1.23's).
    pub fn len(&self) -> usize {
        self.chan.visible_len()
    }

    /// True if nothing is buffered right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the buffer is full right now. An unbuffered channel is always full (it
    /// holds nothing; a send waits for a receiver), as in crossbeam-channel.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// The buffer's capacity (0: unbuffered; also 0 for a timer channel, as Go 1.23's).
    pub fn capacity(&self) -> usize {
        self.chan.visible_cap()
    }

    /// True once the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// True if both ends belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

// Dropping the last handle closes the channel wherever it happens (no bubble check: a
// destructor may run while a bubble-check panic unwinds).
impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the last dropper sees every other sender's sends before closing.
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
