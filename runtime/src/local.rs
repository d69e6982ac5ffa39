//! Green-thread-local storage: `goro::local!`, the replacement for `thread_local!` in code
//! that runs in green threads.
//!
//! A `thread_local!` belongs to the *worker* OS thread, and a green thread may resume on a
//! different worker after any call that can park: a value stored there before a channel
//! receive is not the value read after it, and another green thread on the same worker
//! sees (and changes) it too. A [`LocalKey`] declared with [`local!`](crate::local!) keeps
//! one value per green thread instead, stored in the G itself, so it follows the green
//! thread from worker to worker. On a plain OS thread it behaves like `thread_local!`.
//!
//! # Invariants
//! 1. A G's table (`G::locals`) is touched only by that G while it runs, and by its own
//!    exit path (`Exit`, on the G's stack or by the shutdown thread that unwinds it after
//!    every worker stopped). A G runs on one worker at a time, so the table is never
//!    aliased.
//! 2. Each value is boxed: a `&T` handed to `with` stays valid while other keys are
//!    initialised (the table's `Vec` may grow; the boxes do not move), and a value is
//!    dropped only by `clear`, which never runs while a `with` on the same G is active
//!    (`with` cannot make the G exit).
//! 3. Values are dropped when the green thread finishes — after its function returned or
//!    panicked, before `join` returns — in a loop, because a destructor may set other keys.

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::coroutine::G;
use crate::park::current_g;

/// One party's values, indexed by `LocalKey::index`.
type Slots = Vec<Option<Box<dyn Any>>>;

/// Per-party table of values. Boxed, so a G that never uses a local (most) pays one word
/// for it.
#[derive(Default)]
pub(crate) struct Locals {
    slots: Option<Box<Slots>>,
}

impl Locals {
    /// Drops every value (invariant 3); destructors may set keys again, so repeat.
    fn clear(cell: &UnsafeCell<Locals>) {
        for _ in 0..16 {
            // SAFETY: invariant 1: only this party touches its table, and no `with` is
            // active (invariant 2). The `Vec` is moved out before any destructor runs, so
            // a destructor that sets a key works on a fresh table.
            let Some(slots) = std::mem::take(unsafe { &mut (*cell.get()).slots }) else {
                return;
            };
            if slots.iter().all(Option::is_none) {
                return;
            }
            drop(slots);
        }
    }
}

/// Drops a finishing G's values when dropped: at the end of its function, on panic, or
/// when shutdown unwinds it.
pub(crate) struct Exit<'a>(pub(crate) &'a G);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Shutdown's forced unwind: a second panic would abort anyway.
            return Locals::clear(&self.0.locals);
        }
        let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Locals::clear(&self.0.locals)
        }));
        if cleared.is_err() {
            eprintln!(
                "goro: a green-thread-local value's destructor panicked in green thread {}",
                self.0.id()
            );
        }
    }
}

thread_local! {
    static THREAD_LOCALS: OsLocals = OsLocals(UnsafeCell::new(Locals::default()));
}

/// The table of a plain OS thread; dropped at thread exit.
struct OsLocals(UnsafeCell<Locals>);

impl Drop for OsLocals {
    fn drop(&mut self) {
        Locals::clear(&self.0);
    }
}

/// A key for a green-thread-local value; declare it with [`local!`](crate::local!).
///
/// ```
/// use std::cell::Cell;
/// goro_runtime::local! {
///     static REQUEST_ID: Cell<u64> = Cell::new(0);
/// }
///
/// goro_runtime::run(|| {
///     let hs: Vec<_> = (1..=4u64)
///         .map(|i| {
///             goro_runtime::go(move || {
///                 REQUEST_ID.with(|id| id.set(i));
///                 goro_runtime::yield_now(); // may resume on another worker
///                 REQUEST_ID.with(Cell::get)
///             })
///         })
///         .collect();
///     let seen: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
///     assert_eq!(seen, [1, 2, 3, 4]);
/// });
/// ```
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// 1 + index into every table; 0 until first use.
    index: AtomicUsize,
}

impl<T: 'static> std::fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

static NEXT_INDEX: AtomicUsize = AtomicUsize::new(1);

impl<T: 'static> LocalKey<T> {
    /// A key whose value starts as `init()` in each green thread (use [`local!`](crate::local!)).
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            index: AtomicUsize::new(0),
        }
    }

    fn index(&self) -> usize {
        let i = self.index.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        let fresh = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
        match self
            .index
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Calls `f` with the calling green thread's value (its OS thread's, off the runtime),
    /// initialising it on first use. Use `Cell`/`RefCell` inside for mutation, as with
    /// `thread_local!`.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match current_g() {
            // SAFETY: `g` is the running green thread (we are on its stack), alive while
            // it runs.
            Some(g) => f(self.get(unsafe { &(*g).locals })),
            None => THREAD_LOCALS.with(|t| f(self.get(&t.0))),
        }
    }

    fn get<'a>(&self, cell: &'a UnsafeCell<Locals>) -> &'a T {
        let i = self.index();
        if let Some(v) = self.slot(cell, i) {
            return v;
        }
        // `init` may use other keys (or this one): run it with no borrow of the table.
        let value: Box<dyn Any> = Box::new((self.init)());
        {
            // SAFETY: invariant 1; the borrow ends before anything else can run.
            let slots = unsafe { &mut (*cell.get()).slots }.get_or_insert_with(Box::default);
            if slots.len() <= i {
                slots.resize_with(i + 1, || None);
            }
            if slots[i].is_none() {
                slots[i] = Some(value);
            }
        }
        self.slot(cell, i).expect("goro: local value vanished")
    }

    fn slot<'a>(&self, cell: &'a UnsafeCell<Locals>, i: usize) -> Option<&'a T> {
        // SAFETY: invariant 1 (single party); invariant 2: the box outlives the returned
        // borrow because values are dropped only when the party exits.
        let slots = unsafe { &*cell.get() };
        let b = slots.slots.as_ref()?.get(i)?.as_ref()?;
        let v: *const T = (**b)
            .downcast_ref::<T>()
            .expect("goro: local key type mismatch");
        // SAFETY: the box's heap allocation does not move when the `Vec` grows (invariant 2).
        Some(unsafe { &*v })
    }
}

/// Declares green-thread-local keys ([`LocalKey`]), with `thread_local!`'s syntax.
///
/// ```
/// goro_runtime::local! {
///     /// Per-request trace id.
///     pub static TRACE: std::cell::RefCell<String> = std::cell::RefCell::new(String::new());
/// }
/// TRACE.with(|t| t.borrow_mut().push_str("os thread"));
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __goro_local_init() -> $t {
                $init
            }
            __goro_local_init
        });
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
