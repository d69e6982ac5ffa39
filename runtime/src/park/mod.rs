//! Park and unpark: the one blocking primitive everything in goro is built on
//! (Go's `gopark`/`goready`).
//!
//! # The protocol
//! A party that must wait (a green thread, or a plain OS thread) does three things:
//!
//! 1. takes its [`Unparker`] with [`current`] and **registers** it where a waker will find
//!    it — a channel's wait queue, a join slot, a timer — usually under some lock;
//! 2. calls [`park`] with a **release** step (typically: drop that lock's guard);
//! 3. when `park` returns, **re-checks** its condition and parks again if it is not met
//!    (wake-ups may be spurious, exactly like `std::thread::park`).
//!
//! For a green thread, `park` switches its stack out first and runs `release` on the
//! worker's stack afterwards (Go's `unlockf` in `park_m`). Until `release` runs, no waker
//! can see the registration, and once it has run the green thread is already off its
//! stack, so a waker can requeue it at once: a wake-up is never lost and a green thread is
//! never resumed while it is still running. The park is then committed with the state
//! machine in `primitives::park_state` (checked with loom), which also absorbs a wake-up that raced
//! ahead of the commit (for registrations made without a lock).
//!
//! For an OS thread, `park` runs `release` and then blocks the thread; the same state
//! machine's token makes the order safe.
//!
//! # Rules for `release`
//! * It must not panic (that is a fatal runtime error: it runs between two green threads).
//! * It must not park. It may unpark others.
//! * It should be short: it delays the next green thread on this worker.
//!
//! # Keep wait records off the stack
//! A long-parked green thread's stack may be copied out and its pages released
//! (`stacks/compact.rs`, `Builder::compact_parked_stacks`), so wait records and value slots that wakers write into belong in the heap
//! (an `Arc`) or in the channel, not in the parked frame. `alloc_waiter` and
//! `free_waiter` (`waiter_alloc.rs`; goro-chan reaches them through `__private`) box
//! them, recycling one block per green thread (`g/waiter_cache.rs`).

pub(crate) mod waiter_alloc;
mod waiting_on;

pub(crate) use waiting_on::{is_durable_wait, LockHolder, OUTSIDE_BUBBLE};
pub use waiting_on::{WaitReason, WaitingOn};

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Instant;

use crate::g::context::running_g;
use crate::g::{GRef, ReleaseStep, Status, Suspend, G};
use crate::primitives::park_state::Notify;
use crate::primitives::thread_parker::ThreadParker;

/// Wakes one parked party: a green thread or an OS thread.
///
/// Cheap to clone (one reference count). Unparking a party that is not parked leaves a
/// token so its next [`park`] returns at once; several unparks coalesce into one token.
#[derive(Clone)]
pub struct Unparker {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Green(GRef),
    Thread(Arc<ThreadParker>),
    /// An async task, woken through its `Waker` (a channel operation or a join awaited
    /// from async code: `goro::future`). Boxed so that an `Unparker` stays two words:
    /// the green-thread paths copy it on every park and wake.
    Task(Box<std::task::Waker>),
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Green(g) => write!(f, "Unparker(green thread {})", g.id()),
            Inner::Thread(_) => f.write_str("Unparker(OS thread)"),
            Inner::Task(_) => f.write_str("Unparker(async task)"),
        }
    }
}

// Two words: the tag and one pointer (the green-thread paths move it on every park).
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Unparker>() == 2 * std::mem::size_of::<usize>());

impl Unparker {
    /// Wakes the party (or leaves it a token). Callable from any thread, inside or outside
    /// a runtime. A green thread is queued on the calling worker's `runnext` slot when the
    /// caller is a worker of the same runtime (it runs next, cache-warm: what makes
    /// channel ping-pong cheap), otherwise on its runtime's global queue.
    #[doc(alias = "goready")]
    pub fn unpark(self) {
        match self.inner {
            Inner::Green(g) => {
                if g.park.notify() == Notify::MustWake {
                    // Up once, through the G's runtime (`g/mod.rs`, `trait Schedule`).
                    let ready = g.sched.readier();
                    ready(g);
                }
            }
            Inner::Thread(t) => t.unpark(),
            Inner::Task(w) => w.wake(),
        }
    }

    /// [`unpark`](Self::unpark) without consuming the `Unparker` (a `Waker`'s
    /// `wake_by_ref`): a green thread's reference is cloned only when it must be queued.
    pub fn unpark_by_ref(&self) {
        match &self.inner {
            Inner::Green(g) => {
                if g.park.notify() == Notify::MustWake {
                    let ready = g.sched.readier();
                    ready(g.clone());
                }
            }
            Inner::Thread(t) => t.unpark(),
            Inner::Task(w) => w.wake_by_ref(),
        }
    }

    /// An `Unparker` that wakes an async task: [`unpark`](Self::unpark) calls the task's
    /// `Waker`. What goro's futures queue in a channel or a join slot, so green threads and
    /// tasks wait in the same queues.
    pub fn from_waker(waker: std::task::Waker) -> Unparker {
        Unparker {
            inner: Inner::Task(Box::new(waker)),
        }
    }

    /// The green thread this wakes, if it wakes one.
    pub(crate) fn green_ptr(&self) -> Option<*const G> {
        match &self.inner {
            Inner::Green(g) => Some(GRef::as_ptr(g)),
            Inner::Thread(_) | Inner::Task(_) => None,
        }
    }

    /// True if this wakes a green thread (false: an OS thread or an async task).
    pub fn is_green_thread(&self) -> bool {
        matches!(self.inner, Inner::Green(_))
    }

    /// True if both wake the same party.
    pub fn will_wake(&self, other: &Unparker) -> bool {
        match (&self.inner, &other.inner) {
            (Inner::Green(a), Inner::Green(b)) => GRef::ptr_eq(a, b),
            (Inner::Thread(a), Inner::Thread(b)) => Arc::ptr_eq(a, b),
            (Inner::Task(a), Inner::Task(b)) => a.will_wake(b),
            _ => false,
        }
    }

    /// Converts into one word for lock-free slots (the netpoller's, a `Waker`'s data): a
    /// pointer whose low two bits tell a green thread (0) from an OS thread's parker (1)
    /// and a boxed task `Waker` (2). Never 0 or 1. No allocation but for a task.
    pub(crate) fn into_raw(self) -> usize {
        const _: () = assert!(std::mem::align_of::<G>() >= 4);
        const _: () = assert!(std::mem::align_of::<ThreadParker>() >= 4);
        const _: () = assert!(std::mem::align_of::<std::task::Waker>() >= 4);
        match self.inner {
            Inner::Green(g) => GRef::into_raw(g) as usize,
            Inner::Thread(t) => Arc::into_raw(t) as usize | 1,
            Inner::Task(w) => Box::into_raw(w) as usize | 2,
        }
    }

    /// Takes back an `Unparker` made by [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `word` came from `into_raw` and is converted back exactly once.
    pub(crate) unsafe fn from_raw(word: usize) -> Unparker {
        let inner = match word & 3 {
            // SAFETY: by the contract, a `GRef` leaked by `into_raw`.
            0 => Inner::Green(unsafe { GRef::from_raw(word as *const G) }),
            // SAFETY: by the contract, an `Arc<ThreadParker>` leaked by `into_raw`.
            1 => Inner::Thread(unsafe { Arc::from_raw((word & !3) as *const ThreadParker) }),
            // SAFETY: by the contract, a `Box<Waker>` leaked by `into_raw`.
            _ => Inner::Task(unsafe { Box::from_raw((word & !3) as *mut std::task::Waker) }),
        };
        Unparker { inner }
    }
}

#[cfg(not(loom))]
thread_local! {
    static THREAD_PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
}

// Under loom every model thread needs its own parker, and one made of this execution's
// loom primitives: loom's thread-locals are per model thread and per execution.
#[cfg(loom)]
loom::thread_local! {
    static THREAD_PARKER: Arc<ThreadParker> = Arc::new(ThreadParker::new());
}

/// Runs `f` with the calling OS thread's parker.
///
/// While a thread's thread-locals are being destroyed — a `Drop` of a `thread_local!`
/// value that receives from a channel, say — `THREAD_PARKER` may already be gone, and
/// `with` would panic (with a channel lock held, in the worst case). A fallback parker,
/// kept in a destructor-free thread-local that stays readable during teardown, takes its
/// place: one small allocation per such thread, never freed, as the thread is exiting.
#[cfg(not(loom))]
fn with_thread_parker<R>(f: impl FnOnce(&Arc<ThreadParker>) -> R) -> R {
    thread_local! {
        static FALLBACK_PARKER: Cell<*const ThreadParker> = const { Cell::new(std::ptr::null()) };
    }
    let mut f = Some(f);
    // `try_with` calls the closure only if the parker is alive, so on `Err` `f` is unused.
    if let Ok(r) = THREAD_PARKER.try_with(|p| f.take().expect("called once")(p)) {
        return r;
    }
    let f = f.take().expect("not called");
    FALLBACK_PARKER.with(|slot| {
        if slot.get().is_null() {
            slot.set(Arc::into_raw(Arc::new(ThreadParker::new())));
        }
        // SAFETY: the pointer came from `Arc::into_raw` above and its count is never
        // released, so it stays valid; `ManuallyDrop` keeps this borrow from releasing it.
        let parker = ManuallyDrop::new(unsafe { Arc::from_raw(slot.get()) });
        f(&parker)
    })
}

#[cfg(loom)]
fn with_thread_parker<R>(f: impl FnOnce(&Arc<ThreadParker>) -> R) -> R {
    THREAD_PARKER.with(f)
}

thread_local! {
    /// Set on a thread that is unwinding a dropped runtime's green threads.
    static UNWINDING_RUNTIME: Cell<bool> = const { Cell::new(false) };
}

/// The [`Unparker`] of the caller: its green thread, or else its OS thread.
pub fn current() -> Unparker {
    match running_g() {
        Some(g) => {
            // SAFETY: the worker holds a strong reference to the G it runs, and we are that
            // G, so the count is at least one while we add ours.
            let g = unsafe { GRef::clone_from_ptr(g) };
            Unparker {
                inner: Inner::Green(g),
            }
        }
        None => Unparker {
            inner: Inner::Thread(with_thread_parker(Arc::clone)),
        },
    }
}

/// True when called from a green thread (false on a plain OS thread).
pub fn in_green_thread() -> bool {
    running_g().is_some()
}

/// Parks the caller until its [`Unparker`] is used; `release` runs once the caller is
/// committed to waiting. See the module docs for the protocol and the rules for `release`.
///
/// May return spuriously: always re-check the condition you wait for.
#[doc(alias = "gopark")]
#[inline]
pub fn park<F: FnOnce()>(reason: WaitReason, release: F) {
    park_on(WaitingOn::reason(reason), release)
}

/// [`park`], telling diagnostics what the caller waits on (a channel and its capacity,
/// a select and its number of cases; shown by `goro::dump`).
#[inline]
pub fn park_on<F: FnOnce()>(on: WaitingOn, release: F) {
    match running_g() {
        // SAFETY: `g` is the green thread running this code, on its own stack.
        Some(g) => unsafe { park_green(&*g, on, release) },
        None => {
            let _counted = OsWaiter::enter(); // before `release`: a waker may run after it
            release();
            if UNWINDING_RUNTIME.with(Cell::get) {
                panic!(
                    "goro: a green thread tried to block while its runtime was shutting down \
                     (a destructor waited on a channel, a join or a lock); nothing can wake it"
                );
            }
            with_thread_parker(|p| p.park());
        }
    }
}

/// OS threads parked in a goro call right now, across all runtimes: each could wake a
/// green thread once it resumes, so deadlock detection counts them as possible wakers.
static OS_WAITERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts the calling OS thread in [`OS_WAITERS`] while alive.
struct OsWaiter;

impl OsWaiter {
    fn enter() -> OsWaiter {
        OS_WAITERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        OsWaiter
    }
}

impl Drop for OsWaiter {
    fn drop(&mut self) {
        OS_WAITERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `f` (which blocks the calling OS thread) counted as a possible waker.
pub(crate) fn as_os_waiter<R>(f: impl FnOnce() -> R) -> R {
    let _counted = OsWaiter::enter();
    f()
}

pub(crate) fn os_waiters() -> usize {
    OS_WAITERS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Parks a `block_on` caller that watches for a deadlock verdict: like [`park`] with no
/// release step, but an OS thread parked here is not counted as a possible waker.
pub(crate) fn park_watcher(reason: WaitReason) {
    match running_g() {
        // SAFETY: `g` is the green thread running this code, on its own stack.
        Some(g) => unsafe { park_green(&*g, WaitingOn::reason(reason), || {}) },
        None => with_thread_parker(|p| p.park()),
    }
}

/// Like [`park`], but also returns once `deadline` has passed (the caller re-checks the
/// clock). A green thread arms a timer on its runtime (`Schedule::wake_at`) that is
/// cancelled when `park_until` returns; an OS thread waits on its condvar with a timeout.
#[inline]
pub fn park_until<F: FnOnce()>(reason: WaitReason, deadline: Instant, release: F) {
    park_until_on(WaitingOn::reason(reason), deadline, release)
}

/// [`park_until`], telling diagnostics what the caller waits on, as [`park_on`].
pub fn park_until_on<F: FnOnce()>(on: WaitingOn, deadline: Instant, release: F) {
    match running_g() {
        Some(g) => {
            // SAFETY: `g` is the green thread running this code: alive while it runs.
            let g = unsafe { &*g };
            // SAFETY: as in `current`: the worker holds a reference to the G it runs.
            let me = unsafe { GRef::clone_from_ptr(g) };
            let timer = g.sched.wake_at(deadline, me);
            // SAFETY: `g` is the green thread running this code, on its own stack.
            unsafe { park_green(g, on, release) };
            timer.cancel();
        }
        None => {
            let _counted = OsWaiter::enter();
            release();
            with_thread_parker(|p| p.park_until(Some(deadline)));
        }
    }
}

impl Unparker {
    /// The `Unparker` of green thread `g` (for a timer a runtime arms for it).
    pub(crate) fn of_green(g: GRef) -> Unparker {
        Unparker {
            inner: Inner::Green(g),
        }
    }
}

/// # Safety
/// `g` is the green thread running this code.
unsafe fn park_green<F: FnOnce()>(g: &G, on: WaitingOn, release: F) {
    g.wait_reason
        .store(on.reason_byte(), std::sync::atomic::Ordering::Relaxed);
    // Before the switch: a waker that claims the park afterwards marks it runnable, and
    // that claim is ordered after this store (it needs the commit, which follows).
    g.diag.set(Status::Parked, g.sched.coarse_now());
    g.diag.set_waiting_on(on.object(), on.detail());
    let mut release = ManuallyDrop::new(release);
    let step = ReleaseStep::new(&mut release);
    let at = SwitchedAt::capture(g);
    at.publish();
    // SAFETY: we run on `g`'s stack (contract). `release` stays in this frame, untouched,
    // until the worker has run the step: we are suspended until then.
    unsafe { g.yielder().suspend(Suspend::Park(step)) };
    // Resumed — possibly on another worker. Nothing read from TLS before the switch is
    // used after it.
    g.wait_reason.store(
        WaitReason::Unknown as u8,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Where the registers of a green thread's switch are while it is switched out, for its
/// stack trace in `dump()` (`diag/stack_trace.rs`, invariant 1): recorded in the frame
/// that switches, withdrawn when it resumes. Compiled out without the `stack-traces`
/// feature or off x86_64.
struct SwitchedAt<'a> {
    #[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
    regs: crate::diag::stack_trace::SwitchRegs,
    #[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
    g: &'a G,
    #[cfg(not(all(feature = "stack-traces", target_arch = "x86_64", not(loom))))]
    _g: std::marker::PhantomData<&'a G>,
}

impl<'a> SwitchedAt<'a> {
    /// The calling frame's registers, for `g`, the running green thread. Inlined, so the
    /// registers are the caller's, in the caller's frame; [`publish`](Self::publish) once
    /// the value sits in its local (a move would leave the published address stale).
    #[inline(always)]
    fn capture(g: &'a G) -> SwitchedAt<'a> {
        #[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
        return SwitchedAt {
            regs: crate::diag::stack_trace::SwitchRegs::here(),
            g,
        };
        #[cfg(not(all(feature = "stack-traces", target_arch = "x86_64", not(loom))))]
        {
            let _ = g;
            SwitchedAt {
                _g: std::marker::PhantomData,
            }
        }
    }

    /// Publishes where the registers are (until this value drops, after the resume).
    #[inline(always)]
    fn publish(&self) {
        // Release: the registers are written before their address is seen.
        #[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
        self.g.switched_at.store(
            &self.regs as *const _ as usize,
            std::sync::atomic::Ordering::Release,
        );
    }
}

#[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
impl Drop for SwitchedAt<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.g
            .switched_at
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Yields the running green thread to the back of its worker's queue. False (and does
/// nothing) on an OS thread.
pub(crate) fn yield_green() -> bool {
    match running_g() {
        Some(g) => {
            // SAFETY: `g` is the running green thread, alive while it runs.
            let at = SwitchedAt::capture(unsafe { &*g });
            at.publish();
            // SAFETY: `g` is the running green thread and we are on its stack.
            unsafe { (*g).yielder().suspend(Suspend::Yield) };
            true
        }
        None => false,
    }
}

/// Marks the calling OS thread as unwinding a runtime's green threads (see [`park`]).
pub(crate) fn set_unwinding_runtime(on: bool) {
    UNWINDING_RUNTIME.with(|c| c.set(on));
}

/// True on a thread that is unwinding a dropped runtime's green threads.
pub(crate) fn is_unwinding_runtime() -> bool {
    UNWINDING_RUNTIME.with(Cell::get)
}
