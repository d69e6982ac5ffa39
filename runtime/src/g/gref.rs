//! `GRef`: a counted reference to a green thread — `Arc<G>` with the count inside the G.
//!
//! Run queues, `runnext`, the registry and every [`Unparker`](crate::park::Unparker) hold
//! a G by reference count; a park and its wake-up move one count between workers. `G` is
//! cache-line aligned (see its docs), and `Arc<G>` would then put its two counts alone on
//! a padded line of their own, so every park/unpark, which touches the count *and* the
//! G's park word, would move two lines between cores instead of one (W4 mpmc, A/B against
//! the unaligned G: +11% with `Arc`, +3…7% with this; the VM's noise is ±5%). Here the
//! count is `G::refs`, on the G's first line next to the park word, and there is no weak
//! count.
//!
//! # Invariants
//! 1. `ptr` points at a live, heap-allocated (`Box`) `G` whose `refs` counts the `GRef`s
//!    in existence, including those leaked by [`GRef::into_raw`].
//! 2. The count changes as `Arc`'s does: increments `Relaxed` (a new reference is made
//!    from an existing one), decrements `Release`, and the last one is followed by an
//!    `Acquire` fence before the G is dropped, so every use by other holders happens
//!    before the drop.

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};

use crate::g::G;

/// Past this many references, abort (as `Arc` does) rather than risk a wrapped count.
const MAX_REFS: usize = isize::MAX as usize;

/// See the module docs.
pub(crate) struct GRef {
    ptr: NonNull<G>,
}

// SAFETY: a `GRef` is shared ownership of a `G`, which is `Send + Sync` (see `g/mod.rs`);
// the count is atomic (invariant 2).
unsafe impl Send for GRef {}
// SAFETY: as above.
unsafe impl Sync for GRef {}

impl GRef {
    /// Moves `g` to the heap with one reference. `g.refs` must be 1.
    #[inline]
    pub(crate) fn new(g: G) -> GRef {
        debug_assert_eq!(g.refs.load(Ordering::Relaxed), 1);
        GRef {
            ptr: NonNull::from(Box::leak(Box::new(g))),
        }
    }

    #[inline]
    pub(crate) fn as_ptr(this: &GRef) -> *const G {
        this.ptr.as_ptr()
    }

    #[inline]
    pub(crate) fn ptr_eq(a: &GRef, b: &GRef) -> bool {
        a.ptr == b.ptr
    }

    /// References in existence. `Acquire`, so that when the caller finds it holds every
    /// reference, the other holders' uses happen before what it does next (as after a
    /// final decrement).
    #[inline]
    pub(crate) fn count(this: &GRef) -> usize {
        this.refs.load(Ordering::Acquire)
    }

    /// Leaks the reference as a pointer (for one-word slots); see [`GRef::from_raw`].
    #[inline]
    pub(crate) fn into_raw(this: GRef) -> *const G {
        let p = this.ptr.as_ptr();
        std::mem::forget(this);
        p
    }

    /// Takes back a reference leaked by [`GRef::into_raw`].
    ///
    /// # Safety
    /// `p` came from `into_raw`, and each leaked reference is taken back once.
    #[inline]
    pub(crate) unsafe fn from_raw(p: *const G) -> GRef {
        GRef {
            // SAFETY: `into_raw` returned a pointer from a `NonNull`.
            ptr: unsafe { NonNull::new_unchecked(p.cast_mut()) },
        }
    }

    /// Makes a new reference to the G at `p`.
    ///
    /// # Safety
    /// `p` points at a live G on which the caller holds (or borrows) a reference.
    #[inline]
    pub(crate) unsafe fn clone_from_ptr(p: *const G) -> GRef {
        // SAFETY: forwarded from the contract.
        increment(unsafe { &*p });
        // SAFETY: we just added the reference this `GRef` owns.
        unsafe { GRef::from_raw(p) }
    }
}

#[inline]
fn increment(g: &G) {
    // Relaxed: a new reference is made from one the caller holds (invariant 2, as `Arc`).
    if g.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
        std::process::abort();
    }
}

impl Clone for GRef {
    #[inline]
    fn clone(&self) -> GRef {
        increment(self);
        GRef { ptr: self.ptr }
    }
}

impl Drop for GRef {
    #[inline]
    fn drop(&mut self) {
        if self.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire); // invariant 2
                                  // SAFETY: this was the last reference (invariant 1), so nobody else can reach the
                                  // G; it was allocated by `Box` in `GRef::new`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl Deref for GRef {
    type Target = G;

    #[inline]
    fn deref(&self) -> &G {
        // SAFETY: invariant 1: the G lives while this reference does.
        unsafe { self.ptr.as_ref() }
    }
}

impl std::fmt::Debug for GRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_clones_drops_and_raw_round_trips() {
        crate::run(|| {
            let me = crate::g::context::running_g().expect("in a green thread");
            // SAFETY: `me` is the running G, kept alive by its worker.
            let a = unsafe { GRef::clone_from_ptr(me) };
            let base = GRef::count(&a);
            let b = a.clone();
            assert_eq!(GRef::count(&a), base + 1);
            let raw = GRef::into_raw(b);
            assert_eq!(GRef::count(&a), base + 1, "a leaked reference still counts");
            // SAFETY: `raw` came from `into_raw` just above and is taken back once.
            let b = unsafe { GRef::from_raw(raw) };
            assert!(GRef::ptr_eq(&a, &b));
            drop(b);
            assert_eq!(GRef::count(&a), base);
        });
    }
}
