//! `goro::context`: Go's `context` package — cancellation trees and deadlines, with
//! `done()` as an ordinary channel, so waiting for cancellation is one more `select!` case.
//!
//! # Structure
//! A cancellable context is a `Node`: a done channel (closed exactly once, on
//! cancellation), the error that cancelled it, and weak links to its children. Cancelling a
//! node cancels its children with the same error (Go's `propagateCancel`); a deadline is a
//! runtime timer (`call_at`) that cancels with `DeadlineExceeded`. The background context
//! is no node at all: it never cancels and its `done()` is [`never`].
//!
//! Go 1.21's additions: values hang off a second, immutable chain (`with_value`; a lookup
//! walks it newest first, by the value's type); `without_cancel` keeps that chain and drops
//! the node; a cancellation records its *cause* beside its error, handed to every
//! descendant with it; `after_func` waits for `done()` in a green thread of its own.
//!
//! # Invariants
//! 1. `state.err` goes from `None` to `Some` once; the call that sets it closes the done
//!    channel, cancels the timer, and cancels every child, after releasing the lock.
//! 2. A child registers with its parent under the parent's lock only if the parent is not
//!    cancelled; otherwise it is cancelled at once with the parent's error. So no child of
//!    a cancelled parent stays uncancelled.
//! 3. Links point strongly up and weakly down: a context keeps its ancestors alive (so a
//!    cancellation at the root can still reach it through them), while a parent does not
//!    keep its children alive. A child leaves its parent's map when it is cancelled or
//!    dropped, so abandoned children cost nothing (Go keeps them until the parent is
//!    cancelled — the leak `go vet` warns about).
//! 4. A child's deadline is never later than its parent's.
//!
//! # Lock order
//! Each node's `state` is a leaf: it is never held while another node's lock is taken or
//! while channels are closed or timers cancelled (a child's drop takes its parent's lock,
//! and is never run under its own).

use goro_runtime::__private::Mutex;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use goro_runtime::__private::{call_at, Timer};

use crate::channel::{bounded, never, Receiver, Sender};

/// Why a context is done (Go's `context.Canceled` and `context.DeadlineExceeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// Cancelled through a [`CancelHandle`] (or a parent's).
    Canceled,
    /// Its deadline passed (or a parent's did).
    DeadlineExceeded,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

impl ContextError {
    /// True for a passed deadline (Go's `DeadlineExceeded.Timeout()`, which `net.Error`
    /// callers test), false for a cancellation.
    pub fn is_timeout(&self) -> bool {
        *self == ContextError::DeadlineExceeded
    }
}

/// A cancellation signal and optional deadline, passed down a tree of calls (Go's
/// `context.Context`). Cheap to clone; `Send + Sync`.
///
/// ```
/// use std::time::Duration;
/// use goro_chan::context::{Context, ContextError};
///
/// goro_runtime::run(|| {
///     let (ctx, cancel) = Context::background().with_cancel();
///     let worker = {
///         let ctx = ctx.clone();
///         goro_runtime::go(move || {
///             let mut spins = 0u64;
///             loop {
///                 goro_chan::select! {
///                     recv(ctx.done()) -> _ => return (spins, ctx.err()),
///                     default => { spins += 1; goro_runtime::yield_now(); }
///                 }
///             }
///         })
///     };
///     goro_runtime::sleep(Duration::from_millis(2));
///     cancel.cancel();
///     let (_, err) = worker.join().unwrap();
///     assert_eq!(err, Some(ContextError::Canceled));
/// });
/// ```
#[derive(Clone)]
pub struct Context {
    /// The nearest cancellable ancestor (itself, if cancellable); `None`: never cancelled.
    node: Option<Arc<Node>>,
    /// The values attached along the chain, newest first (Go's `valueCtx` chain).
    values: Option<Arc<ValueNode>>,
}

/// One value of a [`Context::with_value`] chain.
struct ValueNode {
    value: Box<dyn Any + Send + Sync>,
    parent: Option<Arc<ValueNode>>,
}

/// Why a context was cancelled, as [`Context::cause`] reports it (Go's `context.Cause`).
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Cancels the context it came with (and its descendants). Dropping it does **not**
/// cancel: call [`cancel`](Self::cancel) when the work is done, as Go's `defer cancel()`.
#[derive(Clone)]
pub struct CancelHandle {
    node: Arc<Node>,
    /// A listener that lives until this handle cancels or every clone of it is dropped
    /// (`signal::notify_context`'s stop, Go's `stop()`).
    stop: Option<Arc<StopOnDrop>>,
}

/// Closes its channel when cancelled or dropped: the end of a listener's life.
pub(crate) struct StopOnDrop(Sender<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl CancelHandle {
    /// This handle, which also ends a listener (closes `stop`'s channel) when it cancels
    /// or its last clone drops.
    pub(crate) fn stopping(mut self, stop: Sender<()>) -> CancelHandle {
        self.stop = Some(Arc::new(StopOnDrop(stop)));
        self
    }
}

/// Cancels the context it came with, recording why (Go's `CancelCauseFunc`); see
/// [`Context::with_cancel_cause`]. Dropping it does not cancel.
#[derive(Clone)]
pub struct CancelCauseHandle {
    node: Arc<Node>,
}

struct Node {
    id: u64,
    /// Held strongly: a context keeps its ancestors alive so cancellation can reach it.
    parent: Option<Arc<Node>>,
    deadline: Option<Instant>,
    done_rx: Receiver<()>,
    state: Mutex<State>,
}

struct State {
    err: Option<ContextError>,
    /// Set with `err`: the cause given to `cancel_with`, or `err` itself.
    cause: Option<Cause>,
    done_tx: Option<Sender<()>>,
    children: HashMap<u64, Weak<Node>>,
    timer: Option<Timer>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Context {
    /// The root context: never cancelled, no deadline (Go's `context.Background()`).
    pub fn background() -> Context {
        Context {
            node: None,
            values: None,
        }
    }

    /// A child that is cancelled when `cancel` is called on the returned handle or when
    /// this context is cancelled (Go's `context.WithCancel`).
    pub fn with_cancel(&self) -> (Context, CancelHandle) {
        self.child(self.deadline())
    }

    /// Like [`with_cancel`](Self::with_cancel), but the handle records *why* it cancelled
    /// (Go's `context.WithCancelCause`): [`cause`](Self::cause) then returns it, here and
    /// in every descendant.
    ///
    /// ```
    /// use goro_chan::context::{Context, ContextError};
    /// let (ctx, cancel) = Context::background().with_cancel_cause();
    /// cancel.cancel_with("the upstream closed");
    /// assert_eq!(ctx.err(), Some(ContextError::Canceled));
    /// assert_eq!(ctx.cause().unwrap().to_string(), "the upstream closed");
    /// ```
    pub fn with_cancel_cause(&self) -> (Context, CancelCauseHandle) {
        let (ctx, handle) = self.with_cancel();
        (ctx, CancelCauseHandle { node: handle.node })
    }

    /// A child carrying `value`, found by [`value::<T>()`](Self::value) here and in every
    /// descendant (Go's `context.WithValue`). The key is the value's type: wrap values in
    /// a type of your own, as Go advises unexported key types, so packages never collide.
    ///
    /// ```
    /// use goro_chan::context::Context;
    /// #[derive(Debug, PartialEq)]
    /// struct RequestId(u64);
    /// let ctx = Context::background().with_value(RequestId(7));
    /// let (child, _cancel) = ctx.with_cancel();
    /// assert_eq!(child.value::<RequestId>(), Some(&RequestId(7)));
    /// assert_eq!(child.value::<String>(), None);
    /// ```
    pub fn with_value<T: Any + Send + Sync>(&self, value: T) -> Context {
        Context {
            node: self.node.clone(),
            values: Some(Arc::new(ValueNode {
                value: Box::new(value),
                parent: self.values.clone(),
            })),
        }
    }

    /// The nearest value of type `T` attached to this context or an ancestor (Go's
    /// `ctx.Value(key)`).
    pub fn value<T: Any>(&self) -> Option<&T> {
        let mut v = self.values.as_deref();
        while let Some(n) = v {
            if let Some(t) = n.value.downcast_ref::<T>() {
                return Some(t);
            }
            v = n.parent.as_deref();
        }
        None
    }

    /// A context with this one's values but none of its cancellation or deadline (Go's
    /// `context.WithoutCancel`): for work that must finish even if the caller gives up.
    pub fn without_cancel(&self) -> Context {
        Context {
            node: None,
            values: self.values.clone(),
        }
    }

    /// Why this context was cancelled (Go's `context.Cause`): the cause given to a
    /// [`CancelCauseHandle`] of it or an ancestor, else the same error as
    /// [`err`](Self::err); `None` while the context is live.
    pub fn cause(&self) -> Option<Cause> {
        self.node
            .as_ref()
            .and_then(|n| n.state.lock().cause.clone())
    }

    /// A child that is also cancelled, with [`ContextError::DeadlineExceeded`], after `d`
    /// (Go's `context.WithTimeout`). A `d` too large to represent means no deadline.
    pub fn with_timeout(&self, d: Duration) -> (Context, CancelHandle) {
        match goro_runtime::now().checked_add(d) {
            Some(deadline) => self.with_deadline(deadline),
            None => self.with_cancel(),
        }
    }

    /// A child that is also cancelled, with [`ContextError::DeadlineExceeded`], at
    /// `deadline` — or at this context's deadline if that is earlier (Go's
    /// `context.WithDeadline`).
    pub fn with_deadline(&self, deadline: Instant) -> (Context, CancelHandle) {
        self.deadline_child(deadline, None)
    }

    /// [`with_timeout`](Self::with_timeout), recording `cause` for [`cause`](Self::cause)
    /// when the deadline passes (Go 1.21's `context.WithTimeoutCause`); `err` is still
    /// [`ContextError::DeadlineExceeded`].
    ///
    /// ```
    /// use std::time::Duration;
    /// goro_runtime::run(|| {
    ///     let bg = goro_chan::context::Context::background();
    ///     let (ctx, _cancel) = bg.with_timeout_cause(Duration::from_millis(1), "backend too slow");
    ///     let _ = ctx.done().recv();
    ///     assert!(ctx.err().unwrap().is_timeout());
    ///     assert_eq!(ctx.cause().unwrap().to_string(), "backend too slow");
    /// });
    /// ```
    pub fn with_timeout_cause(
        &self,
        d: Duration,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> (Context, CancelHandle) {
        match goro_runtime::now().checked_add(d) {
            Some(deadline) => self.with_deadline_cause(deadline, cause),
            None => self.with_cancel(),
        }
    }

    /// [`with_deadline`](Self::with_deadline), recording `cause` for
    /// [`cause`](Self::cause) when the deadline passes (Go 1.21's
    /// `context.WithDeadlineCause`).
    pub fn with_deadline_cause(
        &self,
        deadline: Instant,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> (Context, CancelHandle) {
        self.deadline_child(deadline, Some(Arc::from(cause.into())))
    }

    /// A child cancelled at `deadline` with `cause` (default: `DeadlineExceeded`).
    fn deadline_child(&self, deadline: Instant, cause: Option<Cause>) -> (Context, CancelHandle) {
        if self.deadline().is_some_and(|parent| parent <= deadline) {
            return self.with_cancel(); // invariant 4: the parent's timer cancels us
        }
        let (ctx, handle) = self.child(Some(deadline));
        if goro_runtime::now() >= deadline {
            handle.node.cancel(ContextError::DeadlineExceeded, cause);
        } else {
            let weak = Arc::downgrade(&handle.node);
            let timer = call_at(deadline, move || {
                if let Some(node) = weak.upgrade() {
                    node.cancel(ContextError::DeadlineExceeded, cause);
                }
            });
            let mut st = handle.node.state.lock();
            if st.err.is_none() {
                st.timer = Some(timer);
            } else {
                drop(st);
                timer.cancel();
            }
        }
        (ctx, handle)
    }

    /// Takes `n` permits of `sem`, parking until they are free or this context is done
    /// (Go's `sem.Acquire(ctx, n)`): `Err` with the context's error then, holding nothing.
    /// A done context fails even if permits are free, as Go's does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro_chan::context::{Context, ContextError};
    /// goro_runtime::run(|| {
    ///     let sem = goro_runtime::sync::Semaphore::new(1);
    ///     let _held = sem.acquire();
    ///     let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(5));
    ///     assert_eq!(ctx.acquire(&sem, 1).unwrap_err(), ContextError::DeadlineExceeded);
    ///     assert_eq!(sem.available_permits(), 0, "nothing taken");
    /// });
    /// ```
    #[cfg(not(loom))] // goro::sync's Semaphore is not built for loom models
    pub fn acquire<'s>(
        &self,
        sem: &'s goro_runtime::sync::Semaphore,
        n: usize,
    ) -> Result<goro_runtime::sync::SemaphorePermit<'s>, ContextError> {
        if let Some(err) = self.err() {
            return Err(err);
        }
        let mut watcher = None;
        let permit = sem.acquire_many_interruptible(n, |interrupt| {
            watcher = Some(after_func(self, move || interrupt.interrupt()));
        });
        if let Some(w) = watcher {
            w.stop();
        }
        permit.ok_or_else(|| self.err().unwrap_or(ContextError::Canceled))
    }

    /// Connects to `addr` within this context (Go's `Dialer.DialContext`): the context's
    /// deadline bounds the connect (as [`TcpStream::connect_timeout_to`]), and its
    /// cancellation ends the wait — `ErrorKind::Interrupted` for a cancellation,
    /// `TimedOut` for a passed deadline, the [`ContextError`] inside. A connect still in
    /// progress then finishes in its own green thread and is closed.
    ///
    /// [`TcpStream::connect_timeout_to`]: goro_runtime::net::TcpStream::connect_timeout_to
    ///
    /// ```
    /// use std::time::Duration;
    /// goro_runtime::run(|| {
    ///     let ln = goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = ln.local_addr().unwrap();
    ///     let bg = goro_chan::context::Context::background();
    ///     let (ctx, _cancel) = bg.with_timeout(Duration::from_secs(5));
    ///     assert!(ctx.dial(addr).is_ok());
    /// });
    /// ```
    #[cfg(not(loom))]
    pub fn dial<A>(&self, addr: A) -> std::io::Result<goro_runtime::net::TcpStream>
    where
        A: std::net::ToSocketAddrs + Send + 'static,
    {
        use goro_runtime::net::TcpStream;
        let as_io = |e: ContextError| {
            let kind = if e.is_timeout() {
                std::io::ErrorKind::TimedOut
            } else {
                std::io::ErrorKind::Interrupted
            };
            std::io::Error::new(kind, e)
        };
        if let Some(e) = self.err() {
            return Err(as_io(e));
        }
        let deadline = self.deadline();
        let (tx, rx) = bounded(1);
        crate::spawn_detached(move || {
            let r = match deadline {
                Some(d) => TcpStream::connect_timeout_to(
                    addr,
                    d.saturating_duration_since(goro_runtime::now())
                        .max(Duration::from_nanos(1)),
                ),
                None => TcpStream::connect(addr),
            };
            let _ = tx.try_send(r); // nobody waits any more: the stream is dropped, closed
        });
        crate::select! {
            recv(rx) -> r => r.expect("the dialer sends its result"),
            recv(self.done()) -> _ => Err(as_io(self.err().unwrap_or(ContextError::Canceled))),
        }
    }

    /// A channel that is closed when this context is cancelled or its deadline passes
    /// (Go's `ctx.Done()`); `recv` on it then returns `Err`. The background context's
    /// channel never closes.
    pub fn done(&self) -> Receiver<()> {
        match &self.node {
            Some(n) => n.done_rx.clone(),
            None => never(),
        }
    }

    /// Completes once the context is cancelled or past its deadline: `<-ctx.Done()` for
    /// async code (a task waits; no thread is blocked). Cancel-safe.
    ///
    /// ```
    /// let (ctx, cancel) = goro_chan::context::Context::background().with_cancel();
    /// cancel.cancel();
    /// goro_runtime::block_on(ctx.cancelled());
    /// assert!(ctx.is_done());
    /// ```
    pub async fn cancelled(&self) {
        let done = self.done();
        let _ = done.recv_async().await; // Err: closed, which is what "done" is
    }

    /// `None` while the context is live; then why it is done (Go's `ctx.Err()`).
    pub fn err(&self) -> Option<ContextError> {
        self.node.as_ref().and_then(|n| n.state.lock().err)
    }

    /// True once cancelled or past its deadline.
    pub fn is_done(&self) -> bool {
        self.err().is_some()
    }

    /// When this context will be cancelled by itself, if ever (Go's `ctx.Deadline()`).
    pub fn deadline(&self) -> Option<Instant> {
        self.node.as_ref().and_then(|n| n.deadline)
    }

    fn child(&self, deadline: Option<Instant>) -> (Context, CancelHandle) {
        let (tx, rx) = bounded(0);
        let node = Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            parent: self.node.clone(),
            deadline,
            done_rx: rx,
            state: Mutex::new(State {
                err: None,
                cause: None,
                done_tx: Some(tx),
                children: HashMap::new(),
                timer: None,
            }),
        });
        if let Some(parent) = &self.node {
            let mut pst = parent.state.lock();
            match pst.err {
                Some(err) => {
                    let cause = pst.cause.clone();
                    drop(pst);
                    node.cancel(err, cause); // invariant 2
                }
                None => {
                    pst.children.insert(node.id, Arc::downgrade(&node));
                }
            }
        }
        (
            Context {
                node: Some(node.clone()),
                values: self.values.clone(),
            },
            CancelHandle { node, stop: None },
        )
    }
}

impl CancelHandle {
    /// Cancels the context and its descendants with [`ContextError::Canceled`]. Later calls
    /// (and cancelling an already-expired context) do nothing.
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled, None);
        if let Some(stop) = &self.stop {
            stop.0.close();
        }
    }
}

/// Runs `f` in a green thread of its own once `ctx` is done (Go 1.21's
/// `context.AfterFunc`); at once if it already is. [`AfterFuncHandle::stop`] prevents it.
/// Called off a runtime, `f` runs on an OS thread instead.
///
/// ```
/// use std::time::Duration;
/// use goro_chan::context::{after_func, Context};
/// goro_runtime::run(|| {
///     let (ctx, cancel) = Context::background().with_cancel();
///     let (tx, rx) = goro_chan::bounded(1);
///     let _h = after_func(&ctx, move || tx.send("cleaned up").unwrap());
///     cancel.cancel();
///     assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("cleaned up"));
///     let stopped = after_func(&ctx.without_cancel(), || unreachable!());
///     assert!(stopped.stop());
/// });
/// ```
pub fn after_func(ctx: &Context, f: impl FnOnce() + Send + 'static) -> AfterFuncHandle {
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let handle = AfterFuncHandle {
        f: Arc::new(Mutex::new(Some(Box::new(f)))),
        stop: stop_tx,
    };
    if ctx.node.is_none() {
        return handle; // never done: nothing to wait for
    }
    let (f, done) = (handle.f.clone(), ctx.done());
    // Go's idiom `go func() { <-ctx.Done(); f() }()`, plus the stop channel. A dropped
    // handle closes that channel too; only a `stop` (which takes `f`) ends the wait.
    let wait = move || {
        let slot = || f.lock();
        crate::select! {
            recv(done) -> _ => {},
            recv(stop_rx) -> _ => {
                if slot().is_none() {
                    return; // stopped
                }
                let _ = done.recv(); // the handle was dropped: keep waiting
            },
        }
        let f = slot().take();
        if let Some(f) = f {
            f();
        }
    };
    crate::spawn_detached(wait);
    handle
}

/// An [`after_func`]'s function until it runs or is stopped.
type Pending = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// Stops an [`after_func`] from running.
pub struct AfterFuncHandle {
    f: Pending,
    /// Closed by `stop` (its drop) so the waiting green thread ends.
    stop: Sender<()>,
}

impl AfterFuncHandle {
    /// Prevents the function from running. True if this call stopped it; false if it has
    /// already started (or been stopped before). Go's `stop()`.
    pub fn stop(&self) -> bool {
        let stopped = self.f.lock().take().is_some();
        self.stop.close();
        stopped
    }
}

impl fmt::Debug for AfterFuncHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.f.lock().is_some();
        f.debug_struct("AfterFuncHandle")
            .field("pending", &pending)
            .finish()
    }
}

impl CancelCauseHandle {
    /// A [`CancelHandle`] for the same context (it cancels without a cause of its own).
    pub(crate) fn handle(&self) -> CancelHandle {
        CancelHandle {
            node: self.node.clone(),
            stop: None,
        }
    }

    /// Cancels with [`ContextError::Canceled`], recording `cause` for
    /// [`Context::cause`]. Only the first cancellation counts.
    pub fn cancel_with(&self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) {
        let cause: Cause = Arc::from(cause.into());
        self.node.cancel(ContextError::Canceled, Some(cause));
    }

    /// Cancels with no cause of its own ([`Context::cause`] then returns `Canceled`).
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled, None);
    }
}

impl Node {
    /// Cancels with `err`; `cause` defaults to `err` itself (Go's `cancel(removeFromParent,
    /// err, cause)`). Children get the same error and cause.
    fn cancel(&self, err: ContextError, cause: Option<Cause>) {
        let mut st = self.state.lock();
        if st.err.is_some() {
            return;
        }
        let cause = cause.unwrap_or_else(|| Arc::new(err));
        st.err = Some(err);
        st.cause = Some(cause.clone());
        let done_tx = st.done_tx.take();
        let timer = st.timer.take();
        let children = std::mem::take(&mut st.children);
        drop(st); // invariant 1, lock order: nothing below runs under our lock
        if let Some(tx) = done_tx {
            tx.close();
        }
        if let Some(t) = timer {
            t.cancel();
        }
        for child in children.values().filter_map(Weak::upgrade) {
            child.cancel(err, Some(cause.clone()));
        }
        if let Some(parent) = &self.parent {
            parent.state.lock().children.remove(&self.id);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Never cancelled and now unreachable: nobody can cancel it any more, so its done
        // channel must stay open for receivers that outlive it (Go: it never closes).
        let st = self.state.get_mut();
        if let Some(tx) = st.done_tx.take() {
            tx.detach();
        }
        if let Some(parent) = &self.parent {
            parent.state.lock().children.remove(&self.id); // invariant 3
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            None => f.write_str("Context::background"),
            Some(_) => f
                .debug_struct("Context")
                .field("deadline", &self.deadline())
                .field("err", &self.err())
                .finish(),
        }
    }
}

impl fmt::Debug for CancelCauseHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelCauseHandle")
            .field("cancelled", &self.node.state.lock().err.is_some())
            .finish()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.node.state.lock().err.is_some())
            .finish()
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::background()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_propagates_down_not_up() {
        let root = Context::background();
        let (a, cancel_a) = root.with_cancel();
        let (b, cancel_b) = a.with_cancel();
        let (c, _keep) = b.with_cancel();
        cancel_b.cancel();
        assert_eq!(a.err(), None);
        assert_eq!(b.err(), Some(ContextError::Canceled));
        assert_eq!(c.err(), Some(ContextError::Canceled));
        assert!(c.done().recv().is_err());
        cancel_a.cancel();
        assert_eq!(a.err(), Some(ContextError::Canceled));
        assert_eq!(root.err(), None);
    }

    #[test]
    fn child_of_cancelled_parent_starts_cancelled() {
        let (a, cancel) = Context::background().with_cancel();
        cancel.cancel();
        let (b, _h) = a.with_timeout(Duration::from_secs(60));
        assert_eq!(b.err(), Some(ContextError::Canceled));
    }

    #[test]
    fn dropping_the_handle_does_not_cancel() {
        let (a, cancel) = Context::background().with_cancel();
        drop(cancel);
        assert_eq!(a.err(), None);
        assert!(a.done().try_recv().is_err());
        assert!(!a.done().is_closed());
    }

    #[test]
    fn done_stays_open_after_the_context_is_dropped() {
        let (a, cancel) = Context::background().with_cancel();
        let done = a.done();
        drop((a, cancel));
        assert!(!done.is_closed());
    }

    #[test]
    fn deadline_in_the_past_is_already_exceeded() {
        let (a, _h) = Context::background().with_deadline(Instant::now());
        assert_eq!(a.err(), Some(ContextError::DeadlineExceeded));
        let (b, _h) = Context::background().with_timeout(Duration::MAX);
        assert_eq!(b.deadline(), None);
    }
}
