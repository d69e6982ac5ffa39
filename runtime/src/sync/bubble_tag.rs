//! Which synctest bubble a `WaitGroup`, `Condvar` or `Semaphore` belongs to, so that a wait
//! on it counts as durable in a bubble only when nothing outside the bubble has used it
//! (`synctest.rs`; Go ties a `WaitGroup` to the bubble of its `Add` for the same reason).
//!
//! Every operation records the caller's bubble (0: none). The tag stays that bubble's while
//! every use comes from it, and becomes `MIXED` for good at the first use from anywhere
//! else. A wait is durable only if the tag is the waiter's own bubble. A primitive used
//! only outside bubbles carries tag 0, so recording costs a thread-context read and a
//! compare.
//!
//! What remains is the isolation contract: a primitive only the bubble has used so far,
//! which an outside thread is going to signal for the first time, looks durable. As with
//! a channel made inside a bubble, signalling it from outside is a misuse (documented).

use std::sync::atomic::{AtomicU64, Ordering};

/// No operation yet.
const UNTOUCHED: u64 = u64::MAX - 1;
/// Used from more than one bubble (or inside and outside): never durable.
const MIXED: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct BubbleTag(AtomicU64);

impl Default for BubbleTag {
    fn default() -> Self {
        BubbleTag::new()
    }
}

impl BubbleTag {
    pub(crate) const fn new() -> BubbleTag {
        BubbleTag(AtomicU64::new(UNTOUCHED))
    }

    /// Records a use from the caller's bubble; returns that bubble (0: none).
    #[inline]
    pub(crate) fn touch(&self) -> u64 {
        let here = crate::driver::current_bubble();
        let tag = self.0.load(Ordering::Relaxed);
        if tag != here {
            self.retag(tag, here);
        }
        here
    }

    #[cold]
    fn retag(&self, tag: u64, here: u64) {
        if tag == UNTOUCHED {
            match self
                .0
                .compare_exchange(UNTOUCHED, here, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) if now == here => return,
                Err(_) => {}
            }
        }
        self.0.store(MIXED, Ordering::Relaxed);
    }

    /// True if a wait from bubble `here` on this primitive is not durable: something
    /// outside that bubble has used it.
    pub(crate) fn is_outside(&self, here: u64) -> bool {
        self.0.load(Ordering::Relaxed) != here
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_from_elsewhere_mixes_the_tag_for_good() {
        let t = BubbleTag::new();
        assert_eq!(t.touch(), 0); // outside any bubble
        assert!(!t.is_outside(0));
        t.retag(0, 7); // a use from bubble 7
        assert!(t.is_outside(7) && t.is_outside(0));
        t.retag(MIXED, 0);
        assert!(t.is_outside(0));
    }
}
