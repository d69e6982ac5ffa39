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
//! The values live in the G (`g/locals.rs`, whose invariants this file relies on).

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::g::context::running_g;
use crate::g::locals::Locals;

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
        match running_g() {
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
