//! A `Waker` that is an [`Unparker`]: what `block_on` polls its future with.
//!
//! The waker's data word is `Unparker::into_raw`'s word (a green thread's `GRef`, or an
//! OS thread's parker, tagged in the low bits), so making one costs one reference count
//! and no allocation, cloning costs another, and waking is `Unparker::unpark` — the same
//! hand-off a channel send makes to a parked receiver.
//!
//! # Invariants
//! 1. Every `RawWaker` built with [`VTABLE`] owns exactly one `Unparker` reference, made
//!    by `into_raw` and given back by exactly one of `wake` or `drop`.
//! 2. `clone` and `wake_by_ref` borrow the reference without releasing it
//!    (`ManuallyDrop`), so the waker they were called on still owns it.

use std::mem::ManuallyDrop;
use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::park::Unparker;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A `Waker` that unparks `u`'s party when woken, from any thread, any number of times
/// (wake-ups before the park commits leave a token: `primitives/park_state.rs`).
pub(crate) fn waker_of(u: Unparker) -> Waker {
    let raw = RawWaker::new(u.into_raw() as *const (), &VTABLE);
    // SAFETY: the vtable's functions keep invariants 1 and 2 for this data word, and an
    // `Unparker` is `Send + Sync`, as a `Waker` must be.
    unsafe { Waker::from_raw(raw) }
}

/// # Safety
/// `data` is a word owned by a live waker of [`VTABLE`] (invariant 1).
unsafe fn borrow(data: *const ()) -> ManuallyDrop<Unparker> {
    // SAFETY: forwarded; `ManuallyDrop` keeps the borrow from releasing it (invariant 2).
    ManuallyDrop::new(unsafe { Unparker::from_raw(data as usize) })
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: called by `Waker::clone` on a live waker of ours.
    let u = unsafe { borrow(data) };
    RawWaker::new((*u).clone().into_raw() as *const (), &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: `Waker::wake` consumes the waker: its reference is ours to release.
    unsafe { Unparker::from_raw(data as usize) }.unpark();
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: called on a live waker of ours, which keeps its reference.
    unsafe { borrow(data) }.unpark_by_ref();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker is being dropped: its reference is ours to release.
    drop(unsafe { Unparker::from_raw(data as usize) });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::park;

    #[test]
    fn wake_before_park_leaves_a_token_and_clones_share_it() {
        let w = waker_of(park::current());
        let w2 = w.clone();
        w.wake_by_ref();
        w2.wake(); // coalesces with the first
        park::park(park::WaitReason::Future, || {}); // returns at once: the token
        drop(w);
    }

    #[test]
    fn waking_from_another_thread_unparks_an_os_thread() {
        let w = waker_of(park::current());
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            w.wake();
        });
        park::park(park::WaitReason::Future, || {});
        t.join().unwrap();
    }
}
