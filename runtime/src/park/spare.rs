//! Heap boxes for wait records, recycled per green thread (Go's sudog cache).
//!
//! Wait records must live off the parked stack (module docs of `park`), so every blocking
//! channel operation used to `Box` one and free it after waking: a `malloc`/`free` pair per
//! park. Worse, a green thread often wakes on another worker than the one it parked on, so
//! the `free` lands in another thread's allocator cache than the `malloc` came from, and
//! glibc pays for the imbalance in its slow path (W8, the prime sieve, spent ~10% there).
//!
//! Go keeps freed `sudog`s in a per-P cache (`acquireSudog`/`releaseSudog`). goro keeps one
//! spare block *per green thread*: a green thread that parks over and over on the same kind
//! of operation — a filter in a pipeline, a worker in a loop — reuses the same block every
//! time, and since only the green thread itself touches its spare, no synchronisation is
//! needed. The spare of a dead green thread stays with the recycled G and is freed with it.
//! On a plain OS thread both functions are an ordinary `Box::new` and drop.
//!
//! # Invariant
//! A G's spare is `None` or a block allocated by the global allocator with the stored
//! layout, holding no value; only the G itself, while running, reads or replaces it.

use std::alloc::Layout;
use std::ptr::NonNull;

use super::{current, current_g, Unparker};

/// A G's spare block: its address and the layout it was allocated with, packed into two
/// words (a `Layout` alone takes two) to keep `G` within four cache lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    ptr: NonNull<u8>,
    size: u32,
    align: u32,
}

impl Block {
    /// `None` if the layout does not pack (a wait record of 4 GiB: never kept).
    fn new(ptr: NonNull<u8>, layout: Layout) -> Option<Block> {
        Some(Block {
            ptr,
            size: layout.size().try_into().ok()?,
            align: layout.align().try_into().ok()?,
        })
    }

    fn layout(self) -> Layout {
        // SAFETY: `size` and `align` came from a valid `Layout` in `Block::new`.
        unsafe { Layout::from_size_align_unchecked(self.size as usize, self.align as usize) }
    }
}

/// A G's spare block, if it has one.
pub(crate) type Spare = Option<Block>;

/// Boxes the wait record `make` builds around the caller's [`Unparker`] (what
/// [`current`] returns), reusing the calling green thread's spare block when its layout fits.
pub fn alloc_waiter<T>(make: impl FnOnce(Unparker) -> T) -> Box<T> {
    let me = current();
    let g = me.green_ptr();
    let value = make(me);
    let layout = Layout::new::<T>();
    if let (Some(g), true) = (g, layout.size() != 0) {
        // SAFETY: `g` is the caller's own green thread (`current`), running now: the only
        // party touching its spare.
        let spare = unsafe { &mut *(*g).spare.get() };
        if let Some(block) = *spare {
            if block.layout() == layout {
                *spare = None;
                let p = block.ptr.cast::<T>().as_ptr();
                // SAFETY: the block was allocated by the global allocator with
                // `Layout::new::<T>()` and holds no value (invariant), which is exactly what
                // `Box::from_raw` needs once we write the value.
                unsafe {
                    p.write(value);
                    return Box::from_raw(p);
                }
            }
        }
    }
    Box::new(value)
}

/// Drops `b`'s value and keeps its block as the calling green thread's spare (freeing the
/// previous spare, if any). On an OS thread, a plain drop.
pub fn free_waiter<T>(b: Box<T>) {
    let layout = Layout::new::<T>();
    let Some(g) = current_g().filter(|_| layout.size() != 0) else {
        return drop(b);
    };
    let p = Box::into_raw(b);
    // SAFETY: `p` came from a live `Box<T>`, so it is non-null.
    let ptr = unsafe { NonNull::new_unchecked(p.cast::<u8>()) };
    let Some(block) = Block::new(ptr, layout) else {
        // SAFETY: `p` came from `Box::into_raw` just above; this rebuilds that box once.
        return drop(unsafe { Box::from_raw(p) });
    };
    // SAFETY: `p` came from a live `Box<T>`; we drop its value once and keep the block.
    unsafe { p.drop_in_place() };
    // SAFETY: we are the G `g`, the only party touching its spare; the block now holds no
    // value (invariant).
    let old = unsafe { (*(*g).spare.get()).replace(block) };
    free_spare(old);
}

/// Frees a spare block.
pub(crate) fn free_spare(spare: Spare) {
    if let Some(block) = spare {
        // SAFETY: allocated by the global allocator with this layout (invariant).
        unsafe { std::alloc::dealloc(block.ptr.as_ptr(), block.layout()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counted(Arc<AtomicUsize>, #[allow(dead_code)] [u64; 4]);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_green_thread_reuses_its_block_and_drops_every_value() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let reused = crate::run(move || {
            let a = alloc_waiter(|_| Counted(d.clone(), [1; 4]));
            let first = &*a as *const Counted;
            free_waiter(a);
            let b = alloc_waiter(|_| Counted(d.clone(), [2; 4]));
            let same = std::ptr::eq(&*b, first);
            assert_eq!(b.1, [2; 4]);
            free_waiter(b);
            // A different layout is not served from the spare.
            let c = alloc_waiter(|_| 7u8);
            assert_eq!(*c, 7);
            free_waiter(c);
            same
        });
        assert!(reused, "the second box reuses the first one's block");
        assert_eq!(drops.load(Ordering::Relaxed), 2, "each value dropped once");
    }

    #[test]
    fn on_an_os_thread_it_is_a_plain_box() {
        let drops = Arc::new(AtomicUsize::new(0));
        free_waiter(alloc_waiter(|_| Counted(drops.clone(), [0; 4])));
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }
}
