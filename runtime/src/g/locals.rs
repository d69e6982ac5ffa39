//! A green thread's table of `goro::local!` values (the API is in `local.rs`): stored in
//! the G itself, so the values follow the green thread from worker to worker.
//!
//! # Invariants
//! 1. A G's table (`G::locals`) is touched only by that G while it runs, and by its own exit
//!    path (`DropLocalsOnExit`, on the G's stack or by the shutdown thread that unwinds it
//!    after every worker stopped). A G runs on one worker at a time, so the table is never
//!    aliased.
//! 2. Each value is boxed: a `&T` handed to `with` stays valid while other keys are
//!    initialised (the table's `Vec` may grow; the boxes do not move), and a value is
//!    dropped only by `clear`, which never runs while a `with` on the same G is active
//!    (`with` cannot make the G exit).
//! 3. Values are dropped when the green thread finishes — after its function returned or
//!    panicked, before `join` returns — in a loop, because a destructor may set other keys.

use std::any::Any;
use std::cell::UnsafeCell;

use super::G;

/// One party's values, indexed by `LocalKey::index`.
type Slots = Vec<Option<Box<dyn Any>>>;

/// Per-party table of values. Boxed, so a G that never uses a local (most) pays one word
/// for it.
#[derive(Default)]
pub(crate) struct Locals {
    pub(crate) slots: Option<Box<Slots>>,
}

impl Locals {
    /// Drops every value (invariant 3); destructors may set keys again, so repeat.
    pub(crate) fn clear(cell: &UnsafeCell<Locals>) {
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
pub(crate) struct DropLocalsOnExit<'a>(pub(crate) &'a G);

impl Drop for DropLocalsOnExit<'_> {
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
