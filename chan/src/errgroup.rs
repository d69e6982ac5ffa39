//! `goro::errgroup`: Go's `golang.org/x/sync/errgroup` — run tasks in green threads, wait
//! for all of them, keep the first error; optionally limit how many run at once and cancel
//! a shared context on the first error.
//!
//! # Invariants
//! 1. Every task started by `go` is counted in `wg` before it is spawned and uncounted by
//!    a drop guard when it ends — normally, by error, or by panic — so `wait` never hangs on
//!    a task that died.
//! 2. With a limit, `go` takes a semaphore permit before spawning; the same guard returns
//!    it. At most `limit` tasks hold one.
//! 3. Only the first error is kept (later ones are dropped) until a `wait` returns it;
//!    the first error cancels the group's context, if it has one, with that error as the
//!    context's cause (Go's `context.Cause(ctx)`).
//! 4. A task's panic is kept too (the first one) and resumed by `wait` after every task
//!    finished, as current Go errgroup does; it wins over an error.

use goro_runtime::__private::Mutex;
use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use goro_runtime::sync::{Semaphore, WaitGroup};

use crate::context::{CancelCauseHandle, Context};

/// A group of green threads working on subtasks of one task (Go's `errgroup.Group`).
///
/// ```
/// use goro_chan::errgroup::Group;
/// let r = goro_runtime::run(|| {
///     let mut g = Group::new();
///     g.set_limit(3);
///     for i in 0..10 {
///         g.go(move || if i == 7 { Err(format!("job {i} failed")) } else { Ok(()) });
///     }
///     g.wait()
/// });
/// assert_eq!(r, Err("job 7 failed".to_string()));
/// ```
pub struct Group<E> {
    wg: WaitGroup,
    shared: Arc<Shared<E>>,
    limit: Option<Arc<Semaphore>>,
}

struct Shared<E> {
    first: Mutex<Outcome<E>>,
    cancel: Option<CancelCauseHandle>,
    /// What the context's cause says for an error (`with_context`: its `Display`).
    describe: Option<fn(&E) -> String>,
}

/// The cause a group's context is cancelled with: the failing task's error, as text.
#[derive(Debug)]
struct TaskFailed(String);

impl fmt::Display for TaskFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TaskFailed {}

struct Outcome<E> {
    err: Option<E>,
    panic: Option<Box<dyn Any + Send>>,
}

impl<E: Send + 'static> Group<E> {
    /// An empty group with no limit and no context.
    pub fn new() -> Group<E> {
        Group::build(None, None)
    }

    /// A group whose returned context (a child of `parent`) is cancelled when a task
    /// first fails — with that error as its [`cause`](Context::cause) — or when `wait`
    /// returns (Go's `errgroup.WithContext`).
    ///
    /// ```
    /// use goro_chan::{context::Context, errgroup::Group};
    /// goro_runtime::run(|| {
    ///     let (g, ctx) = Group::<String>::with_context(&Context::background());
    ///     g.go(|| Err("disk full".to_string()));
    ///     let _ = ctx.done().recv(); // cancelled by the failure
    ///     assert_eq!(ctx.cause().unwrap().to_string(), "disk full");
    ///     assert_eq!(g.wait(), Err("disk full".to_string()));
    /// });
    /// ```
    pub fn with_context(parent: &Context) -> (Group<E>, Context)
    where
        E: fmt::Display,
    {
        let (ctx, cancel) = parent.with_cancel_cause();
        (Group::build(Some(cancel), Some(|e: &E| e.to_string())), ctx)
    }

    fn build(cancel: Option<CancelCauseHandle>, describe: Option<fn(&E) -> String>) -> Group<E> {
        Group {
            wg: WaitGroup::new(),
            shared: Arc::new(Shared {
                first: Mutex::new(Outcome {
                    err: None,
                    panic: None,
                }),
                cancel,
                describe,
            }),
            limit: None,
        }
    }

    /// At most `n` tasks run at once; `go` parks until a slot is free (Go's `SetLimit`).
    /// Tasks already running keep their slots in the previous limit.
    ///
    /// # Panics
    /// If `n == 0`: no task could ever start, and `go` would wait forever.
    pub fn set_limit(&mut self, n: usize) {
        assert!(
            n > 0,
            "errgroup: set_limit(0) would block every go() forever"
        );
        self.limit = Some(Arc::new(Semaphore::new(n)));
    }

    /// Removes the limit (Go's `SetLimit(-1)`): `go` no longer waits. Tasks already
    /// running keep their slots in the old limit.
    pub fn remove_limit(&mut self) {
        self.limit = None;
    }

    /// Runs `f` in a new green thread, waiting for a slot first if a limit is set.
    ///
    /// # Panics
    /// Outside a runtime, like [`goro_runtime::go`].
    #[track_caller]
    pub fn go(&self, f: impl FnOnce() -> Result<(), E> + Send + 'static) {
        if let Some(sem) = &self.limit {
            sem.acquire().forget(); // invariant 2
        }
        self.spawn(f);
    }

    /// Like [`go`](Self::go), but returns false instead of waiting when the limit is
    /// reached (Go's `TryGo`).
    #[track_caller]
    pub fn try_go(&self, f: impl FnOnce() -> Result<(), E> + Send + 'static) -> bool {
        if let Some(sem) = &self.limit {
            match sem.try_acquire() {
                Some(p) => p.forget(),
                None => return false,
            }
        }
        self.spawn(f);
        true
    }

    #[track_caller]
    fn spawn(&self, f: impl FnOnce() -> Result<(), E> + Send + 'static) {
        self.wg.add(1);
        let done = TaskDone {
            wg: self.wg.clone(),
            slot: self.limit.clone(),
        };
        let shared = self.shared.clone();
        drop(goro_runtime::go(move || {
            let _done = done; // invariant 1
            match goro_runtime::catch_unwind(AssertUnwindSafe(f)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => shared.fail(Some(e), None),
                Err(p) => shared.fail(None, Some(p)),
            }
        }));
    }

    /// Waits for every task, then returns the first error (Go's `Wait`). Cancels the
    /// group's context, if any. The group stays usable, as Go's: more tasks may be started
    /// and waited for; the error returned here is not returned again (Go returns it from
    /// every later `Wait`; here it has moved out).
    ///
    /// # Panics
    /// Resumes the first panic of a task, after all tasks have finished.
    pub fn wait(&self) -> Result<(), E> {
        self.wg.wait();
        if let Some(c) = &self.shared.cancel {
            c.cancel();
        }
        let mut first = self.shared.first.lock();
        if let Some(p) = first.panic.take() {
            drop(first);
            std::panic::resume_unwind(p);
        }
        match first.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<E> Shared<E> {
    fn fail(&self, err: Option<E>, panic: Option<Box<dyn Any + Send>>) {
        let mut first = self.first.lock();
        let was_clean = first.err.is_none() && first.panic.is_none();
        if first.err.is_none() {
            first.err = err; // invariant 3
        }
        if first.panic.is_none() {
            first.panic = panic;
        }
        let cause = match (&first.err, self.describe) {
            (Some(e), Some(describe)) if was_clean => Some(describe(e)),
            _ => None,
        };
        drop(first);
        if was_clean {
            if let Some(c) = &self.cancel {
                match cause {
                    Some(why) => c.cancel_with(TaskFailed(why)),
                    None => c.cancel(), // a panic: no error to name
                }
            }
        }
    }
}

/// Uncounts a task and frees its slot when the task's green thread ends, however it ends.
struct TaskDone {
    wg: WaitGroup,
    slot: Option<Arc<Semaphore>>,
}

impl Drop for TaskDone {
    fn drop(&mut self) {
        if let Some(sem) = &self.slot {
            sem.add_permits(1);
        }
        self.wg.done();
    }
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Self {
        Group::new()
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("running", &self.wg.count())
            .field("limited", &self.limit.is_some())
            .finish()
    }
}
