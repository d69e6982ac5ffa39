//! `goro::stack`: deep recursion on demand, `maybe_grow` and `remaining` (the `stacker`
//! crate's shape; `stacker` itself cannot see a green thread's stack). The stacks
//! themselves are in `stacks/`.
//!
//! A green thread's stack cannot move or grow past its reservation (chapter 1), so a
//! recursive function that may go deep wraps its recursive step in [`maybe_grow`]: while at
//! least `red_zone` bytes remain it just calls on; below that it runs the closure on a fresh
//! *segment* — a stack of `stack_size` bytes from the same arena (`stacks/region.rs`), guarded the same way —
//! and returns to the old stack when the closure returns. Segments nest, and are pooled
//! (an arena slot goes back to its free list when the closure returns). A green thread may
//! park on a segment; it resumes there, on whatever worker.
//!
//! The G records the segment it runs on (`segment_guard`, `segment_kib`), so [`remaining`]
//! measures against it and the overflow handler recognises the segment's guard page too.
//! On a plain OS thread the same functions work against the thread's own stack (from
//! `pthread_getattr_np`) and a thread-local segment record.
//!
//! # Invariants
//! 1. A G's `segment_guard`/`segment_kib` describe the innermost segment its code runs on,
//!    or are 0 on its own stack; only the G writes them, on entering and leaving a segment
//!    (also when unwinding out of one: `Restore`).
//! 2. A segment outlives every frame on it: `corosensei::on_stack` returns (or unwinds)
//!    before the `Stack` is dropped back into the arena.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use crate::g::context::running_g;
use crate::stacks::{page_size, Stack, MIN_STACK_SIZE};

thread_local! {
    /// On a plain OS thread: the lowest usable address of the segment it runs on, or 0.
    static OS_SEGMENT_LO: Cell<usize> = const { Cell::new(0) };
    /// On a plain OS thread: the lowest usable address of its own stack (0: not read yet).
    static OS_STACK_LO: Cell<usize> = const { Cell::new(0) };
}

/// Bytes of stack left below the caller's frame before the guard page, on the stack (or
/// segment) it runs on now. `None` if that cannot be told (an OS thread whose stack
/// bounds the platform does not report).
pub fn remaining() -> Option<usize> {
    let sp = approximate_sp();
    let lo = match running_g() {
        // SAFETY: the running G is alive while it runs (its worker holds it), and we are it.
        Some(g) => unsafe {
            let g = &*g;
            match g.segment_guard.load(Ordering::Relaxed) {
                0 => g.guard.usable_lo(),
                guard => guard + page_size(),
            }
        },
        None => match OS_SEGMENT_LO.with(Cell::get) {
            0 => os_stack_lo()?,
            lo => lo,
        },
    };
    Some(sp.saturating_sub(lo))
}

/// Runs `f`, on a new segment of `stack_size` bytes if fewer than `red_zone` bytes of stack
/// remain (or if that cannot be told). Wrap the recursive step of a function that may go
/// deep:
///
/// ```
/// fn depth(n: u64) -> u64 {
///     if n == 0 {
///         return 0;
///     }
///     goro_runtime::stack::maybe_grow(32 * 1024, 1 << 20, || 1 + depth(n - 1))
/// }
/// // 200 000 frames: far more than the green thread's 256 KiB reservation holds.
/// assert_eq!(goro_runtime::run(|| depth(200_000)), 200_000);
/// ```
///
/// # Panics
/// If no segment can be had (the stack budget or the address space is exhausted), with
/// the message `go` gives then. A panic in `f` propagates to the caller.
pub fn maybe_grow<R>(red_zone: usize, stack_size: usize, f: impl FnOnce() -> R) -> R {
    match remaining() {
        Some(left) if left >= red_zone => f(),
        _ => grow(stack_size, f),
    }
}

/// Runs `f` on a fresh segment of at least `stack_size` bytes.
fn grow<R>(stack_size: usize, f: impl FnOnce() -> R) -> R {
    let size = stack_size.max(MIN_STACK_SIZE);
    let stack = Stack::new(size).unwrap_or_else(|e| {
        panic!("goro::stack::maybe_grow: cannot get a {size}-byte segment: {e}")
    });
    let (guard, _) = stack.guard_range();
    let kib = stack.usable() / 1024;
    let lo = guard + page_size();
    match running_g() {
        Some(g) => {
            // SAFETY: as in `remaining`. Only this G writes its segment fields.
            let g = unsafe { &*g };
            let outer = (
                g.segment_guard.swap(guard, Ordering::Relaxed),
                g.segment_kib.swap(kib, Ordering::Relaxed),
            );
            let _restore = Restore(move || {
                // The G may have moved to another worker meanwhile: find it again.
                if let Some(g) = running_g() {
                    // SAFETY: as above.
                    let g = unsafe { &*g };
                    g.segment_guard.store(outer.0, Ordering::Relaxed);
                    g.segment_kib.store(outer.1, Ordering::Relaxed);
                }
            });
            corosensei::on_stack(stack, f)
        }
        None => {
            let outer = OS_SEGMENT_LO.with(|c| c.replace(lo));
            let _restore = Restore(move || OS_SEGMENT_LO.with(|c| c.set(outer)));
            corosensei::on_stack(stack, f)
        }
    }
}

/// Runs its closure when dropped: on return and on unwind alike.
struct Restore<F: FnMut()>(F);

impl<F: FnMut()> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// An address in the caller's frame.
#[inline(always)]
fn approximate_sp() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The lowest usable address of the calling OS thread's stack, read once per thread.
fn os_stack_lo() -> Option<usize> {
    let cached = OS_STACK_LO.with(Cell::get);
    if cached != 0 {
        return Some(cached);
    }
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; we read the stack
    // bounds from it and destroy it.
    let lo = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let (mut addr, mut size, mut guard) = (std::ptr::null_mut(), 0usize, 0usize);
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_getguardsize(&attr, &mut guard);
        libc::pthread_attr_destroy(&mut attr);
        if !ok {
            return None;
        }
        addr as usize + guard
    };
    OS_STACK_LO.with(|c| c.set(lo));
    Some(lo)
}
