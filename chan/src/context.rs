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

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use goro_runtime::time::{call_at, Timer};

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
    node: Option<Arc<Node>>,
}

/// Cancels the context it came with (and its descendants). Dropping it does **not**
/// cancel: call [`cancel`](Self::cancel) when the work is done, as Go's `defer cancel()`.
#[derive(Clone)]
pub struct CancelHandle {
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
    done_tx: Option<Sender<()>>,
    children: HashMap<u64, Weak<Node>>,
    timer: Option<Timer>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Context {
    /// The root context: never cancelled, no deadline (Go's `context.Background()`).
    pub fn background() -> Context {
        Context { node: None }
    }

    /// A child that is cancelled when `cancel` is called on the returned handle or when
    /// this context is cancelled (Go's `context.WithCancel`).
    pub fn with_cancel(&self) -> (Context, CancelHandle) {
        self.child(self.deadline())
    }

    /// A child that is also cancelled, with [`ContextError::DeadlineExceeded`], after `d`
    /// (Go's `context.WithTimeout`). A `d` too large to represent means no deadline.
    pub fn with_timeout(&self, d: Duration) -> (Context, CancelHandle) {
        match Instant::now().checked_add(d) {
            Some(deadline) => self.with_deadline(deadline),
            None => self.with_cancel(),
        }
    }

    /// A child that is also cancelled, with [`ContextError::DeadlineExceeded`], at
    /// `deadline` — or at this context's deadline if that is earlier (Go's
    /// `context.WithDeadline`).
    pub fn with_deadline(&self, deadline: Instant) -> (Context, CancelHandle) {
        if self.deadline().is_some_and(|parent| parent <= deadline) {
            return self.with_cancel(); // invariant 4: the parent's timer cancels us
        }
        let (ctx, handle) = self.child(Some(deadline));
        if Instant::now() >= deadline {
            handle.node.cancel(ContextError::DeadlineExceeded);
        } else {
            let weak = Arc::downgrade(&handle.node);
            let timer = call_at(deadline, move || {
                if let Some(node) = weak.upgrade() {
                    node.cancel(ContextError::DeadlineExceeded);
                }
            });
            let mut st = handle.node.lock();
            if st.err.is_none() {
                st.timer = Some(timer);
            } else {
                drop(st);
                timer.cancel();
            }
        }
        (ctx, handle)
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

    /// `None` while the context is live; then why it is done (Go's `ctx.Err()`).
    pub fn err(&self) -> Option<ContextError> {
        self.node.as_ref().and_then(|n| n.lock().err)
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
                done_tx: Some(tx),
                children: HashMap::new(),
                timer: None,
            }),
        });
        if let Some(parent) = &self.node {
            let mut pst = parent.lock();
            match pst.err {
                Some(err) => {
                    drop(pst);
                    node.cancel(err); // invariant 2
                }
                None => {
                    pst.children.insert(node.id, Arc::downgrade(&node));
                }
            }
        }
        (
            Context {
                node: Some(node.clone()),
            },
            CancelHandle { node },
        )
    }
}

impl CancelHandle {
    /// Cancels the context and its descendants with [`ContextError::Canceled`]. Later calls
    /// (and cancelling an already-expired context) do nothing.
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled);
    }
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cancel(&self, err: ContextError) {
        let mut st = self.lock();
        if st.err.is_some() {
            return;
        }
        st.err = Some(err);
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
            child.cancel(err);
        }
        if let Some(parent) = &self.parent {
            parent.lock().children.remove(&self.id);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Never cancelled and now unreachable: nobody can cancel it any more, so its done
        // channel must stay open for receivers that outlive it (Go: it never closes).
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = st.done_tx.take() {
            tx.detach();
        }
        if let Some(parent) = &self.parent {
            parent.lock().children.remove(&self.id); // invariant 3
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

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.node.lock().err.is_some())
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
