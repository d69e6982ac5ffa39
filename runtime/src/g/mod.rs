//! The green thread, Go's `G`: a corosensei coroutine on a pooled stack plus the little
//! state the scheduler and the parking protocol need.
//!
//! # Status (Go's `_Grunnable`/`_Grunning`/`_Gwaiting`, folded into two words)
//! * `park` (`primitives::park_state`) decides who wakes a parked G: `EMPTY` while it runs or sits in a
//!   run queue, `PARKED` once its worker committed the park, `NOTIFIED` if a wake-up beat the
//!   commit. Exactly one party requeues a parked G (invariant 2 there).
//! * `body` is `Live` (the coroutine) from spawn until the coroutine returns, then `Dead`
//!   (the bare stack, kept for the next incarnation); `Gone` once shutdown unwound it.
//!
//! # Ownership of `body`
//! `body` is touched only by the single party that currently owns the G's execution: the
//! worker that popped it from a run queue (resume), or the runtime's shutdown after every
//! worker has stopped (unwind). A G is in at most one run queue at a time and is resumed by
//! one worker at a time — that is what the park protocol guarantees — so the `UnsafeCell`
//! is never aliased mutably.
//!
//! # Why moving a G between threads is sound (the `unsafe impl Send`)
//! corosensei's `Coroutine` is deliberately `!Send`: a suspended coroutine's stack may hold
//! values that must stay on one thread (`Rc`, a std `MutexGuard`, a `thread_local!`
//! borrow). goro moves suspended coroutines between workers, and argues soundness as
//! follows:
//! 1. The entry closure and its result are `Send + 'static` (`go`, `Runtime::spawn`
//!    require it), so the G's initial and final states may cross threads.
//! 2. A G migrates only while switched out at a park or yield point inside goro, never in
//!    the middle of user code. The runtime itself keeps nothing thread-bound on the stack
//!    across those points: its only thread-local is re-read after every switch
//!    (`scheduler/context.rs`), and the OS-level stack (the mapping) belongs to no thread.
//! 3. What user code keeps on its stack *across a goro blocking call* is outside what the
//!    type system can see. goro's documented contract (README, docs chapter on caveats)
//!    is the same as may's and every stackful M:N runtime's: do not hold a `!Send` value
//!    (an `Rc` shared with other code, a `thread_local!` reference, a std `MutexGuard`)
//!    across `park`, `yield_now`, `sleep`, `join`, a channel/sync operation, or `go` (which
//!    yields when it applies backpressure, `spawn.rs`). Under that
//!    contract every value that crosses threads is `Send`, which is exactly corosensei's
//!    stated condition for implementing `Send` manually.

use std::cell::UnsafeCell;
use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;

use corosensei::{Coroutine, Yielder};

pub(crate) mod context;
pub(crate) mod gref;
pub(crate) mod locals;
#[cfg(feature = "tracing")]
pub(crate) mod spans;
pub(crate) mod waiter_cache;

use crate::primitives::park_state::ParkState;
use crate::stacks::Stack;
use locals::Locals;
use waiter_cache::WaiterCache;

/// Where a G's guard page lies and how much stack is above it, for the overflow handler:
/// immutable for the G's life, packed into two words (see `G` on its size).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuardPage {
    lo: usize,
    len: u32,
    usable_kib: u32,
}

impl GuardPage {
    fn of(stack: &Stack) -> GuardPage {
        let (lo, hi) = stack.guard_range();
        GuardPage {
            lo,
            len: u32::try_from(hi - lo).unwrap_or(u32::MAX),
            usable_kib: u32::try_from(stack.usable() / 1024).unwrap_or(u32::MAX),
        }
    }

    /// True if `addr` lies in the guard page.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.lo) < self.len as usize
    }

    /// The lowest usable address (just above the guard).
    pub(crate) fn usable_lo(&self) -> usize {
        self.lo + self.len as usize
    }

    /// The usable stack above the guard, as `lo..hi` addresses.
    pub(crate) fn usable_range(&self) -> std::ops::Range<usize> {
        let lo = self.usable_lo();
        lo..lo + self.usable_kib() * 1024
    }

    /// The usable stack above the guard, in KiB.
    pub(crate) fn usable_kib(&self) -> usize {
        self.usable_kib as usize
    }
}

/// What a G tells its worker when it switches out.
pub(crate) enum Suspend {
    /// Requeue me at the tail of the local run queue (Go's `goyield`).
    Yield,
    /// Run this release step on the worker's stack, then commit my park.
    Park(ReleaseStep),
}

/// A type-erased `FnOnce()` living on the parked G's stack, moved out and run by the worker
/// after the switch (Go's `unlockf` in `park_m`).
pub(crate) struct ReleaseStep {
    call: unsafe fn(*mut u8),
    data: *mut u8,
}

impl ReleaseStep {
    /// Wraps `f`, which must stay alive (unmoved) until [`ReleaseStep::run`] has been called.
    pub(crate) fn new<F: FnOnce()>(f: &mut std::mem::ManuallyDrop<F>) -> ReleaseStep {
        unsafe fn call<F: FnOnce()>(data: *mut u8) {
            // SAFETY: `data` points at a `ManuallyDrop<F>` that nobody else will read or
            // drop (contract of `ReleaseStep::new`); reading moves it onto this stack.
            let f = unsafe { std::ptr::read(data.cast::<F>()) };
            let abort_on_unwind = AbortOnUnwind;
            f();
            std::mem::forget(abort_on_unwind);
        }
        ReleaseStep {
            call: call::<F>,
            data: (f as *mut std::mem::ManuallyDrop<F>).cast(),
        }
    }

    /// Runs the release step. After this returns the G's stack is no longer referenced.
    ///
    /// # Safety
    /// Called at most once, while the `ManuallyDrop<F>` passed to `new` is still in place.
    pub(crate) unsafe fn run(self) {
        // SAFETY: forwarded from this function's contract.
        unsafe { (self.call)(self.data) }
    }
}

/// A release step runs on the scheduler's stack between two green threads; unwinding from
/// it would tear through the worker loop, so it is a fatal runtime error instead.
struct AbortOnUnwind;
impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        crate::fatal("a park release step panicked");
    }
}

pub(crate) type GCoroutine = Coroutine<(), Suspend, (), Stack>;

/// What a G runs on. The stack stays with the G across incarnations (Go's `g.stack`): inside
/// the coroutine while the G is live, bare while it is dead. One field for both keeps `G`
/// within four cache lines (see `G`).
enum Body {
    /// Fresh or finished (in a free list): the stack, ready for [`G::start`].
    Dead(Stack),
    /// Spawned on a cold stack (its pages not resident) and not yet run: the coroutine is
    /// made at the first resume, so the page fault of its first frame is taken by the
    /// worker that runs it, in parallel with the spawner, not by the spawner (a burst of
    /// cold spawns: that fault is most of a spawn's cost).
    Pending(Stack, Box<dyn FnOnce(&G) + Send>),
    /// Spawned and not yet returned.
    Live(GCoroutine),
    /// For a moment inside [`G::start`]; for good after shutdown unwound the coroutine,
    /// which unmapped the stack.
    Gone,
}

/// Reference to a G, as held by run queues, wait queues and the registry.
pub(crate) use gref::GRef;

/// What a G knows of the scheduler that runs it (tokio's `Schedule`): the G sits below the
/// scheduler and reaches it only through this trait, on the slow paths (a wake-up from
/// outside the runtime's workers, a diagnostics stamp while parking).
pub(crate) trait Schedule: Send + Sync + std::fmt::Debug {
    /// Queues a G readied from outside its runtime's workers, waking a worker for it.
    fn inject(&self, g: GRef);
    /// The runtime's coarse clock (milliseconds), for [`Diagnostics`] stamps.
    fn coarse_now(&self) -> u64;
    /// How to make one of this runtime's parked Gs runnable (Go's `goready`): `park`'s
    /// wake-up calls it with the G it won. A function, not a method, because it takes the
    /// G (and so the reference through which this runtime was reached) by value.
    fn readier(&self) -> fn(GRef);
    /// Arms a timer on this runtime that readies `g` (parked, or about to park) at
    /// `deadline`: `park_until`'s timer. The caller cancels it if it wakes first.
    fn wake_at(&self, deadline: std::time::Instant, g: GRef) -> Arc<dyn ArmedTimer>;
}

/// A timer armed by [`Schedule::wake_at`].
pub(crate) trait ArmedTimer: Send + Sync {
    /// Disarms it; true if it had not fired.
    fn cancel(&self) -> bool;
}

/// Called by the scheduler once the G is dead and counted out: publishes the join result.
pub(crate) trait Completion: Send + Sync {
    /// The coroutine returned; wake the joiner.
    fn complete(&self);
    /// The G was unwound by shutdown before finishing: record that, then wake the joiner.
    fn cancel(&self);
}

/// A green thread (Go's `g`). G structs are recycled together with their stacks (Go's
/// `gfput`/`gfget`): a finished G that nobody else references goes to a free list and the
/// next spawn restarts it, so steady-state spawning allocates no G and maps no stack.
///
/// # Layout
/// Cache-line aligned and four lines long (`g_is_four_cache_lines`). A G is written by the
/// worker that spawns it and then by the one that runs it; while it shared lines with its
/// neighbours in the heap (other Gs, join slots) each missed on the others' stores (W1
/// spawn: −10% with the alignment, A/B). `repr(C)` fixes which line holds what:
/// 1. what *other* workers write on every wake-up — the reference count (`gref.rs`: not
///    on a line of its own, as `Arc`'s would be) and the park word — plus `shared`, which
///    the waker reads;
/// 2. the coroutine;
/// 3. and 4. what the G itself and its worker touch, the diagnostics last (a waker stamps
///    them too, but only with a relaxed store nobody waits on).
#[repr(C, align(64))]
pub(crate) struct G {
    /// References in existence (`gref.rs`, invariant 1).
    pub(crate) refs: AtomicUsize,
    /// The parking word; see `primitives::park_state`.
    pub(crate) park: ParkState,
    /// The runtime this G belongs to (where unparks from foreign threads inject it).
    pub(crate) sched: Arc<dyn Schedule>,
    /// While the G is locked to its OS thread (`goro::lock_os_thread`): the address of that
    /// worker's mailbox, where a wake-up is delivered instead of a run queue; else 0.
    /// Opaque here (the scheduler owns the mailbox type). Read by wakers, with `park`.
    pub(crate) locked_to: AtomicUsize,
    /// While the G runs on a segment of `goro::stack::maybe_grow`: that segment's guard
    /// page address and usable KiB (for `remaining` and the overflow handler); else 0.
    /// Written only by the G itself.
    pub(crate) segment_guard: AtomicUsize,
    pub(crate) segment_kib: AtomicUsize,
    /// The name given with `goro::Spawn::name`, interned (never freed, so `dump` may read
    /// it while the G finishes), or null.
    name: AtomicPtr<&'static str>,
    /// Ends the first line (see "Layout").
    _line0: [u8; LINE0_PAD],
    /// The coroutine, or the bare stack between incarnations.
    body: UnsafeCell<Body>,
    completion: UnsafeCell<Option<Arc<dyn Completion>>>,
    yielder: UnsafeCell<*const Yielder<(), Suspend>>,
    /// Guard page of this G's stack, for the overflow handler (immutable).
    pub(crate) guard: GuardPage,
    /// Where `go`/`spawn` was called (`#[track_caller]`), for messages and `dump`.
    spawn_site: AtomicPtr<Location<'static>>,
    /// Green-thread-local values (`local.rs`), touched only by the G itself.
    pub(crate) locals: UnsafeCell<Locals>,
    /// A freed wait-record block kept for the next one (`waiter_cache.rs`), touched only
    /// by the G itself.
    pub(crate) waiter_cache: UnsafeCell<WaiterCache>,
    /// Unique per runtime and per incarnation, starting at 1.
    id: AtomicU64,
    /// Diagnostics only (`dump`, deadlock reports); written with relaxed stores by whoever
    /// moves the G between states, never read to make a scheduling decision.
    pub(crate) diag: Diagnostics,
    /// While the G is switched out: where its registers at the switch are, in the
    /// switching frame on its own stack (`diag/stack_trace.rs`); else 0.
    pub(crate) switched_at: AtomicUsize,
    /// Its `tracing` spans while switched out (`spans.rs`).
    #[cfg(feature = "tracing")]
    spans: UnsafeCell<Option<Box<spans::GSpans>>>,
    /// Index in the registry shard (written under that shard's lock).
    pub(crate) registry_slot: AtomicU32,
    /// What the G is parked on (`WaitReason as u8`), for diagnostics.
    pub(crate) wait_reason: AtomicU8,
    /// Set by shutdown before unwinding the coroutine, so the entry trampoline lets the
    /// forced unwind through instead of reporting it as a panic.
    unwinding: AtomicBool,
    /// Counts the G's transitions to runnable; every `latency::SAMPLE_PERIOD`th is timed
    /// (Go's `g.trackingSeq`). Written by whoever readies the G, one party at a time (the
    /// park protocol's single waker, or its own worker).
    track_seq: AtomicU8,
}

/// Bytes after the first line's seven fields up to the second line.
const LINE0_PAD: usize = 64usize.saturating_sub(
    5 * std::mem::size_of::<AtomicUsize>()
        + std::mem::size_of::<ParkState>()
        + std::mem::size_of::<Arc<dyn Schedule>>(),
);

/// What a G is doing, as `dump` reports it (Go's `_Grunnable`, `_Grunning`, `_Gwaiting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    /// In a free list (or never started).
    Dead = 0,
    /// In a run queue or `runnext`.
    Runnable,
    /// On a worker.
    Running,
    /// Parked (see `wait_reason`).
    Parked,
    /// Inside a `goro::blocking` call, on a thread that handed its processor off (Go's
    /// `_Gsyscall`).
    Syscall,
}

/// A G's diagnostic record (Go's `g.waitsince`, `g.waitreason`, plus what it waits on).
///
/// Timestamps come from the runtime's coarse clock (`Sched::coarse_now`, milliseconds,
/// advanced by sysmon), so recording one is a relaxed load, not a clock read.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    /// `since << 8 | status`: the status and the coarse milliseconds when it last
    /// changed, in one word so a transition is one store.
    state: AtomicU64,
    /// Parked: the address of what the G waits on (a channel), 0 if none or not known.
    /// Running or in `blocking`: the OS thread id of the worker it runs on.
    object: AtomicUsize,
    /// Parked, with `object`: a channel's capacity, a lock's holder; for a sleep: the
    /// deadline in coarse ms; for a select: the number of cases. Runnable and `TRACKED`:
    /// the tick at which it became runnable (`diag/latency.rs`).
    detail: AtomicU64,
}

/// In the status byte of `Diagnostics::state`: this runnable G's scheduling delay is
/// being timed (its stamp is in `detail`).
const TRACKED: u64 = 0x80;

impl Diagnostics {
    #[inline]
    pub(crate) fn set(&self, status: Status, now_ms: u64) {
        self.state
            .store(now_ms << 8 | status as u64, Ordering::Relaxed);
    }

    /// `Status::Runnable`; `timed`: with a tick stamp (`G::set_runnable` decides).
    #[inline]
    fn set_runnable(&self, now_ms: u64, timed: bool) {
        let mut word = now_ms << 8 | Status::Runnable as u64;
        if timed {
            self.detail
                .store(crate::diag::latency::ticks(), Ordering::Relaxed);
            word |= TRACKED;
        }
        self.state.store(word, Ordering::Relaxed);
    }

    /// A worker on OS thread `tid` resumes the G: `Status::Running`. Returns the tick at
    /// which it became runnable if that transition was timed, else 0.
    #[inline]
    pub(crate) fn set_running(&self, now_ms: u64, tid: libc::pid_t) -> u64 {
        let was = self.state.load(Ordering::Relaxed);
        let stamp = if was & TRACKED != 0 {
            self.detail.load(Ordering::Relaxed)
        } else {
            0
        };
        self.object.store(tid as usize, Ordering::Relaxed);
        self.state
            .store(now_ms << 8 | Status::Running as u64, Ordering::Relaxed);
        stamp
    }

    #[inline]
    pub(crate) fn set_waiting_on(&self, object: usize, detail: u64) {
        self.object.store(object, Ordering::Relaxed);
        self.detail.store(detail, Ordering::Relaxed);
    }

    /// The status and since when, as one word: it changes at every transition.
    pub(crate) fn state_word(&self) -> u64 {
        self.state.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> Status {
        Self::status_of(self.state.load(Ordering::Relaxed))
    }

    /// The status in a state word (`state_word`).
    pub(crate) fn status_of(word: u64) -> Status {
        match word & 0x7f {
            1 => Status::Runnable,
            2 => Status::Running,
            3 => Status::Parked,
            4 => Status::Syscall,
            _ => Status::Dead,
        }
    }

    pub(crate) fn since(&self) -> u64 {
        self.state.load(Ordering::Relaxed) >> 8
    }

    pub(crate) fn waiting_on(&self) -> (usize, u64) {
        (
            self.object.load(Ordering::Relaxed),
            self.detail.load(Ordering::Relaxed),
        )
    }
}

// SAFETY: see "Why moving a G between threads is sound" in the module docs; the
// `UnsafeCell`s are accessed only by the one party owning the G's execution ("Ownership of
// `body`" above) or, while the G is dead, by the one party owning it through a free list.
unsafe impl Send for G {}
// SAFETY: as for `Send`; the fields other threads read (`refs`, `park`, `wait_reason`, `id`,
// `spawn_site`, `unwinding`, `registry_slot`, `diag`) are atomics or immutable.
unsafe impl Sync for G {}

impl std::fmt::Debug for G {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G")
            .field("id", &self.id())
            .field("spawn_site", &self.spawn_site())
            .finish()
    }
}

impl G {
    /// A dead G owning a fresh stack, ready for [`G::start`].
    pub(crate) fn fresh(sched: Arc<dyn Schedule>, stack: Stack) -> GRef {
        GRef::new(G {
            refs: AtomicUsize::new(1),
            _line0: [0; LINE0_PAD],
            id: AtomicU64::new(0),
            spawn_site: AtomicPtr::new(std::ptr::null_mut()),
            park: ParkState::new(),
            wait_reason: AtomicU8::new(0),
            #[cfg(feature = "tracing")]
            spans: UnsafeCell::new(None),
            diag: Diagnostics::default(),
            unwinding: AtomicBool::new(false),
            track_seq: AtomicU8::new(0),
            switched_at: AtomicUsize::new(0),
            registry_slot: AtomicU32::new(u32::MAX),
            sched,
            locked_to: AtomicUsize::new(0),
            segment_guard: AtomicUsize::new(0),
            segment_kib: AtomicUsize::new(0),
            name: AtomicPtr::new(std::ptr::null_mut()),
            guard: GuardPage::of(&stack),
            body: UnsafeCell::new(Body::Dead(stack)),
            yielder: UnsafeCell::new(std::ptr::null()),
            completion: UnsafeCell::new(None),
            locals: UnsafeCell::new(Locals::default()),
            waiter_cache: UnsafeCell::new(WaiterCache::default()),
        })
    }

    /// True if this G belongs to the runtime whose scheduler is at `sched`.
    #[inline]
    pub(crate) fn belongs_to<S>(&self, sched: &S) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.sched), sched)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    /// The G became runnable (woken, spawned, yielded, handed over): `Status::Runnable` in
    /// its diagnostics, timed one transition in `latency::SAMPLE_PERIOD` per G (as Go
    /// tracks goroutines: a per-G count, so a pair of green threads that wake each other
    /// is sampled too).
    #[inline]
    pub(crate) fn set_runnable(&self, now_ms: u64) {
        let seq = self.track_seq.load(Ordering::Relaxed).wrapping_add(1);
        self.track_seq.store(seq, Ordering::Relaxed);
        let timed = u32::from(seq) % crate::diag::latency::SAMPLE_PERIOD == 0;
        self.diag.set_runnable(now_ms, timed);
    }

    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&'static str> {
        let p = self.name.load(Ordering::Acquire);
        // SAFETY: a non-null pointer comes from `set_name`, whose argument is `'static`.
        (!p.is_null()).then(|| unsafe { *p })
    }

    /// Names the G (at spawn, before it runs), or unnames it (`None`, when it finishes).
    pub(crate) fn set_name(&self, name: Option<&'static &'static str>) {
        let p = name.map_or(std::ptr::null_mut(), |n| {
            (n as *const &'static str).cast_mut()
        });
        self.name.store(p, Ordering::Release);
    }

    /// True if the G has a name (a relaxed load, for the finish path).
    pub(crate) fn is_named(&self) -> bool {
        !self.name.load(Ordering::Relaxed).is_null()
    }

    pub(crate) fn spawn_site(&self) -> Option<&'static Location<'static>> {
        let p = self.spawn_site.load(Ordering::Relaxed);
        // SAFETY: only ever set from a `&'static Location`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Makes a dead G live: a new coroutine running `body` on the G's stack. `body`
    /// receives the G so it can tell a user panic from shutdown's forced unwind (see
    /// [`G::is_unwinding`]).
    ///
    /// # Safety
    /// The caller owns this dead G exclusively (fresh, or popped from a free list).
    pub(crate) unsafe fn start<F>(
        &self,
        id: u64,
        spawn_site: &'static Location<'static>,
        completion: Arc<dyn Completion>,
        body: F,
    ) where
        F: FnOnce(&G) + Send + 'static,
    {
        self.id.store(id, Ordering::Relaxed);
        self.spawn_site.store(
            (spawn_site as *const Location<'static>).cast_mut(),
            Ordering::Relaxed,
        );
        self.unwinding.store(false, Ordering::Relaxed);
        // SAFETY: exclusive by this function's contract.
        let slot = unsafe { &mut *self.body.get() };
        let Body::Dead(mut stack) = std::mem::replace(slot, Body::Gone) else {
            panic!("goro: starting a G without a stack");
        };
        let started = if stack.take_cold() {
            Body::Pending(stack, Box::new(body))
        } else {
            Body::Live(self.coroutine(stack, body))
        };
        // SAFETY: `slot` holds `Gone`, which owns nothing: overwriting it without its drop
        // glue (an out-of-line call since `Pending` holds a box) loses nothing.
        unsafe { std::ptr::write(slot, started) };
        // SAFETY: exclusive by this function's contract.
        unsafe { *self.completion.get() = Some(completion) };
    }

    /// The coroutine that runs `body` on `stack` with this G as its argument (writing its
    /// first frame at the stack's top).
    fn coroutine<F>(&self, stack: Stack, body: F) -> GCoroutine
    where
        F: FnOnce(&G) + Send + 'static,
    {
        let me = SelfPtr(self);
        Coroutine::with_stack(stack, move |yielder: &Yielder<(), Suspend>, ()| {
            let me = me;
            // SAFETY: the G outlives its coroutine (the coroutine is a field of the G), and
            // only this coroutine writes `yielder`, before anyone reads it.
            unsafe { *(*me.0).yielder.get() = yielder };
            // SAFETY: as above, the G outlives the coroutine running this closure.
            body(unsafe { &*me.0 });
        })
    }

    /// Resumes the coroutine until it suspends or returns.
    ///
    /// # Safety
    /// The caller owns this G's execution (it popped it from a run queue).
    #[inline]
    pub(crate) unsafe fn resume(&self) -> corosensei::CoroutineResult<Suspend, ()> {
        // SAFETY: exclusive by this function's contract (`spans.rs`, invariant 1).
        #[cfg(feature = "tracing")]
        let spans = unsafe { &mut *self.spans.get() };
        #[cfg(feature = "tracing")]
        spans::switch_in(spans, self.id());
        #[cfg(not(loom))]
        if self.park.is_compacted() {
            // sysmon compacted the parked stack: its bytes go back first (`compact.rs`).
            crate::stacks::compact::restore(self);
        }
        // SAFETY: exclusive by this function's contract (module docs, "Ownership of `body`").
        let result = match unsafe { &mut *self.body.get() } {
            Body::Live(co) => co.resume(()),
            // SAFETY: as above.
            _ => unsafe { self.resume_pending() },
        };
        #[cfg(feature = "tracing")]
        spans::switch_out(
            spans,
            matches!(result, corosensei::CoroutineResult::Return(())),
        );
        result
    }

    /// The first resume of a G spawned on a cold stack: make its coroutine here, then run it.
    ///
    /// # Safety
    /// As [`resume`](Self::resume).
    #[cold]
    #[inline(never)]
    unsafe fn resume_pending(&self) -> corosensei::CoroutineResult<Suspend, ()> {
        // SAFETY: exclusive by this function's contract.
        let slot = unsafe { &mut *self.body.get() };
        let Body::Pending(stack, body) = std::mem::replace(slot, Body::Gone) else {
            panic!("goro: resumed a finished green thread");
        };
        // SAFETY: as in `start`: `slot` holds `Gone`.
        unsafe { std::ptr::write(slot, Body::Live(self.coroutine(stack, body))) };
        match slot {
            Body::Live(co) => co.resume(()),
            _ => unreachable!("made live just above"),
        }
    }

    /// Makes a G whose coroutine returned dead again: its stack goes back into the G.
    ///
    /// # Safety
    /// The caller owns this G's execution and the coroutine has returned.
    pub(crate) unsafe fn retire(&self) {
        // SAFETY: exclusive by this function's contract.
        let body = unsafe { &mut *self.body.get() };
        if let Body::Live(co) = std::mem::replace(body, Body::Gone) {
            // SAFETY: as in `start`: `body` holds `Gone`.
            unsafe { std::ptr::write(body, Body::Dead(co.into_stack())) };
        }
    }

    /// Shrinks the dead G's stack if it grew deep, before it waits in a free list.
    ///
    /// # Safety
    /// The caller owns this dead G exclusively.
    pub(crate) unsafe fn shrink_dead_stack(&self) {
        // SAFETY: exclusive by this function's contract.
        if let Body::Dead(stack) = unsafe { &mut *self.body.get() } {
            stack.shrink_if_deep();
        }
    }

    /// True if the G has a coroutine (spawned and not yet finished).
    ///
    /// # Safety
    /// No worker runs this G concurrently (shutdown, after the workers stopped).
    pub(crate) unsafe fn is_live(&self) -> bool {
        // SAFETY: by this function's contract.
        unsafe { matches!(*self.body.get(), Body::Live(_) | Body::Pending(..)) }
    }

    /// Unwinds a coroutine that will never run again (shutdown): its destructors run on the
    /// calling thread. Does nothing if the G is dead.
    ///
    /// # Safety
    /// No worker runs or will run this G any more.
    pub(crate) unsafe fn unwind(&self) {
        self.unwinding.store(true, Ordering::SeqCst);
        // SAFETY: exclusive by this function's contract.
        let body = unsafe { &mut *self.body.get() };
        if matches!(body, Body::Live(_) | Body::Pending(..)) {
            #[cfg(not(loom))]
            if self.park.is_compacted() {
                // The unwind runs on the stack: its bytes go back first (`compact.rs`).
                crate::stacks::compact::restore(self);
            }
            // corosensei's Drop force-unwinds a suspended coroutine, then frees its stack; a
            // G that never ran just drops its closure and stack.
            drop(std::mem::replace(body, Body::Gone));
        }
    }

    /// True while shutdown force-unwinds this G: a panic payload caught now is corosensei's
    /// unwind marker and must be re-raised, not reported as the G's own panic.
    pub(crate) fn is_unwinding(&self) -> bool {
        self.unwinding.load(Ordering::SeqCst)
    }

    /// The yielder of the running coroutine.
    ///
    /// # Safety
    /// Called from code running on this G's own stack.
    pub(crate) unsafe fn yielder(&self) -> &Yielder<(), Suspend> {
        // SAFETY: set at coroutine entry, valid for the coroutine's life; we are on it.
        unsafe { &**self.yielder.get() }
    }

    /// The completion, left in place: the scheduler fires it for a G it pools, whose next
    /// [`start`](Self::start) drops it.
    ///
    /// # Safety
    /// The caller owns this G's execution and the G is dead.
    pub(crate) unsafe fn completion(&self) -> Option<&Arc<dyn Completion>> {
        // SAFETY: exclusive by this function's contract.
        unsafe { (*self.completion.get()).as_ref() }
    }

    /// Takes the completion for the scheduler to fire once the G is dead.
    ///
    /// # Safety
    /// The caller owns this G's execution (it finished it, or shutdown unwound it).
    pub(crate) unsafe fn take_completion(&self) -> Option<Arc<dyn Completion>> {
        // SAFETY: exclusive by this function's contract.
        unsafe { (*self.completion.get()).take() }
    }
}

#[cfg(all(test, not(loom)))]
impl G {
    /// The words of the G's `body` (its coroutine), for a test that finds corosensei's
    /// saved stack pointer among them (`stacks/compact.rs`).
    ///
    /// # Safety
    /// The G is switched out and stays so.
    pub(crate) unsafe fn body_words(&self) -> Vec<usize> {
        let p = self.body.get().cast::<usize>();
        (0..std::mem::size_of::<Body>() / 8)
            // SAFETY: inside the `body` field; a test reads the words as numbers only.
            .map(|i| unsafe { std::ptr::read_volatile(p.add(i)) })
            .collect()
    }
}

/// `*const G` that may be captured by the coroutine closure (which corosensei does not
/// require to be `Send`, but our argument above covers it).
#[derive(Clone, Copy)]
struct SelfPtr(*const G);

#[cfg(test)]
mod tests {
    use super::*;

    /// See "Layout" in the docs of `G`.
    #[test]
    fn g_is_four_cache_lines() {
        assert_eq!(std::mem::align_of::<G>(), 64);
        assert_eq!(std::mem::size_of::<G>(), 4 * 64);
        assert!(std::mem::offset_of!(G, park) < 64);
        assert_eq!(std::mem::offset_of!(G, body), 64);
    }
}
