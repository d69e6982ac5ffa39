//! `scope`: green threads that borrow from the caller's stack frame (std's
//! `thread::scope`, for green threads).
//!
//! `goro::go` needs `'static` closures, so sharing a local means an `Arc`. In a scope,
//! [`Scope::go`] takes closures that borrow anything that outlives the scope, because
//! [`scope`] does not return before every green thread it started has finished: it waits
//! on a `WaitGroup` that each one marks done as its very last access to borrowed data.
//!
//! # Invariants
//! 1. Every green thread of a scope has finished running its closure (and dropped it)
//!    before `scope` returns or unwinds past its frame.
//! 2. If the scope's own green thread is unwound by a runtime shutdown while it waits
//!    (the only way it can leave early), it first unwinds the scope's green threads that
//!    have started and drops the closures of those that have not: none of them is left
//!    holding a borrow of a frame that is gone. Shutdown unwinds on the dropping thread
//!    after every worker stopped, so nothing else runs them meanwhile.
//! 3. A closure is moved out of its `pending` slot exactly once: by its green thread when
//!    it starts, or by the unwinding scope (2) if it never started.
//!
//! Off the runtime (a plain OS thread) the scope's threads are OS threads, as std's are.

use std::marker::PhantomData;
use std::panic::{resume_unwind, AssertUnwindSafe};

// goro's `catch_unwind` lets a shutdown's forced unwind through (a green thread must not
// survive its own unwinding).
use crate::lock::Mutex;
use crate::spawn::catch_unwind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::g::GRef;
use crate::join::JoinHandle;
use crate::park;
use crate::sync::WaitGroup;

/// A job of a scope with its lifetime erased (invariant 1 keeps the borrow valid).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a scope's owner and its green threads share.
#[derive(Default)]
struct ScopeData {
    running: WaitGroup,
    /// Panics no `join` has collected: `scope` panics if any is left.
    unjoined_panics: AtomicUsize,
    /// Closures not yet started, by spawn index (invariant 3).
    pending: Mutex<Vec<Option<Job>>>,
    /// Green threads running a closure right now, for invariant 2.
    started: Mutex<Vec<(usize, GRef)>>,
}

/// A scope to start green threads in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariant in `'scope` (as std's): the scope cannot be shrunk.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// The handle of a scoped green thread; [`join`](Self::join) returns its result.
pub struct ScopedJoinHandle<'scope, T> {
    inner: Inner,
    result: Arc<Mutex<Option<std::thread::Result<T>>>>,
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope ()>,
}

enum Inner {
    Green(JoinHandle<()>),
    Os(std::thread::JoinHandle<()>),
}

/// Runs `f` with a [`Scope`] whose green threads may borrow from the caller, and returns
/// once all of them have finished (std's `thread::scope`). Inside a runtime they are
/// green threads; called from a plain OS thread, they are OS threads.
///
/// A panic in a scoped green thread is returned by its [`ScopedJoinHandle::join`]; if
/// nobody joined it, `scope` panics after all have finished, as std's does.
///
/// ```
/// let mut words = vec!["green", "threads"];
/// let total = goro_runtime::run(move || {
///     let lens = goro_runtime::scope(|s| {
///         let hs: Vec<_> = words.iter().map(|w| s.go(move || w.len())).collect();
///         hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
///     });
///     words.push("borrowed"); // the borrows ended with the scope
///     lens + words.len()
/// });
/// assert_eq!(total, 15);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData::default()),
        scope: PhantomData,
        env: PhantomData,
    };
    // Scoped green threads borrow this frame: it must not be compacted meanwhile.
    #[cfg(not(loom))]
    let _lend = crate::stacks::compact::lend();
    let guard = UnwindChildren(&scope.data); // invariant 2
    let r = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.data.running.wait(); // invariant 1
    std::mem::forget(guard);
    match r {
        Err(p) => resume_unwind(p),
        Ok(_) if scope.data.unjoined_panics.load(Ordering::SeqCst) > 0 => {
            panic!("a scoped green thread panicked")
        }
        Ok(v) => v,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// [`go`](Self::go) under std's name: code moved from `std::thread::scope` keeps its
    /// `s.spawn(...)` (an alias rather than a compile error, since the two mean the same
    /// here: a green thread instead of an OS thread is the only difference).
    ///
    /// ```
    /// let mut v = vec![1, 2, 3];
    /// goro_runtime::run(move || {
    ///     goro_runtime::scope(|s| {
    ///         s.spawn(|| v.push(4));
    ///     });
    ///     assert_eq!(v.len(), 4);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.go(f)
    }

    /// Starts a green thread running `f`, which may borrow anything that outlives the
    /// scope (std's `Scope::spawn`).
    #[track_caller]
    pub fn go<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let result = Arc::new(Mutex::new(None));
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new({
            let (result, data) = (result.clone(), self.data.clone());
            move || {
                let r = catch_unwind(AssertUnwindSafe(f));
                if r.is_err() {
                    data.unjoined_panics.fetch_add(1, Ordering::SeqCst);
                }
                *result.lock() = Some(r);
            }
        });
        // SAFETY: invariant 1: `scope` does not return (nor unwind past its frame) before
        // this closure has run to its end or been dropped, so its borrows stay valid.
        let job: Job = unsafe { std::mem::transmute::<_, Job>(job) };
        let index = {
            let mut pending = self.data.pending.lock();
            pending.push(Some(job));
            pending.len() - 1
        };
        self.data.running.add(1);
        let data = self.data.clone();
        let body = move || run_job(&data, index);
        let inner = if park::in_green_thread() {
            Inner::Green(crate::go(body))
        } else {
            Inner::Os(std::thread::spawn(body))
        };
        ScopedJoinHandle {
            inner,
            result,
            data: self.data.clone(),
            scope: PhantomData,
        }
    }
}

/// The body of a scoped green thread: take the closure (invariant 3), run it while
/// registered as started (invariant 2), then mark it done — its last touch of the scope.
fn run_job(data: &ScopeData, index: usize) {
    let job = data.pending.lock()[index].take();
    if let Some(job) = job {
        let me = crate::g::context::running_g().map(|g| {
            // SAFETY: `g` is the running green thread (it holds a reference meanwhile).
            let g = unsafe { GRef::clone_from_ptr(g) };
            data.started.lock().push((index, g));
        });
        job();
        if me.is_some() {
            let mut started = data.started.lock();
            started.retain(|(i, _)| *i != index);
        }
    }
    data.running.done();
}

/// On an unwind of the scope's owner by a runtime shutdown, finishes the scope's green
/// threads first (invariant 2).
struct UnwindChildren<'a>(&'a ScopeData);

impl Drop for UnwindChildren<'_> {
    fn drop(&mut self) {
        if !park::is_unwinding_runtime() {
            return; // only a shutdown unwinds a scope's owner past its wait
        }
        let started = std::mem::take(&mut *self.0.started.lock());
        for (_, g) in started {
            crate::runtime::unwind_one(&g);
        }
        let pending = std::mem::take(&mut *self.0.pending.lock());
        drop(pending);
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the green thread and returns its result, `Err` with the panic payload if
    /// it panicked.
    pub fn join(self) -> std::thread::Result<T> {
        match self.inner {
            Inner::Green(h) => {
                let _ = h.join();
            }
            Inner::Os(h) => {
                let _ = h.join();
            }
        }
        let r = self
            .result
            .lock()
            .take()
            .expect("a finished scoped green thread left its result");
        if r.is_err() {
            self.data.unjoined_panics.fetch_sub(1, Ordering::SeqCst);
        }
        r
    }

    /// True once the green thread has finished.
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Green(h) => h.is_finished(),
            Inner::Os(h) => h.is_finished(),
        }
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.count())
            .finish()
    }
}

impl<T> std::fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
