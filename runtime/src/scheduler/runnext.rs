//! The `runnext` slot (Go's `p.runnext`, tokio's LIFO slot).
//!
//! A green thread readied by the running one (a channel receiver it just woke, a G it just
//! spawned) goes here and runs next on the same worker, sharing its time slice and its warm
//! cache. That is what makes ping-pong cheap: the partner is in `runnext`, not behind the
//! whole queue.
//!
//! The owner swaps; an idle worker may steal the slot only after seeing the same G sit in
//! it across a short pause (Go's `usleep(3)` in `runqgrab`), so a G that is about to run
//! is not bounced across cores, yet a G stuck behind a long-running one is not starved
//! (tokio#4730).
//!
//! # Invariants
//! The slot holds either null or a pointer obtained from `Arc::into_raw` whose strong
//! reference is owned by the slot. Whoever swaps or CASes it out owns that reference.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::g::{GRef, G};

#[derive(Debug)]
pub(crate) struct RunNext {
    slot: AtomicPtr<G>,
}

impl RunNext {
    pub(crate) fn new() -> RunNext {
        RunNext {
            slot: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Puts `g` in the slot; returns the G it displaced.
    ///
    /// Executed only by the worker that owns this processor.
    pub(crate) fn put(&self, g: GRef) -> Option<GRef> {
        // AcqRel: publish the new G to thieves, acquire the displaced one.
        let old = self
            .slot
            .swap(GRef::into_raw(g).cast_mut(), Ordering::AcqRel);
        // SAFETY: a non-null value came from `Arc::into_raw` and its reference was owned
        // by the slot, now by us (invariant).
        (!old.is_null()).then(|| unsafe { GRef::from_raw(old) })
    }

    /// Takes the G in the slot, if any (owner or thief).
    pub(crate) fn take(&self) -> Option<GRef> {
        let old = self.slot.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`.
        (!old.is_null()).then(|| unsafe { GRef::from_raw(old) })
    }

    /// The current occupant's address (not dereferenced), for the steal-after-pause check.
    pub(crate) fn peek(&self) -> *const G {
        self.slot.load(Ordering::Acquire)
    }

    /// Steals the slot only if it still holds `expected`.
    pub(crate) fn steal_if(&self, expected: *const G) -> Option<GRef> {
        // Look before the CAS: a CAS takes the slot's cache line exclusively even when it
        // fails, and the owner, which swaps the slot at every spawn or wake-up, would then
        // miss on its next swap. A G that stayed put is the rare case.
        if expected.is_null() || self.slot.load(Ordering::Relaxed) != expected.cast_mut() {
            return None;
        }
        self.slot
            .compare_exchange(
                expected.cast_mut(),
                ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()
            // SAFETY: the CAS moved the slot's reference to us (invariant). Even if the
            // address was reused by a new G meanwhile (ABA), the slot owned *that* G's
            // reference, which is what we take.
            .map(|p| unsafe { GRef::from_raw(p) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slot.load(Ordering::Relaxed).is_null()
    }
}

impl Drop for RunNext {
    fn drop(&mut self) {
        drop(self.take());
    }
}
