//! Boxes for wait records, recycled through the calling green thread's waiter cache
//! (`g/waiter_cache.rs`, which explains why). On a plain OS thread both functions are an
//! ordinary `Box::new` and drop.

use std::alloc::Layout;

use super::{current, Unparker};
use crate::g::context::running_g;

/// Boxes the wait record `make` builds around the caller's [`Unparker`] (what
/// [`current`] returns), reusing the calling green thread's cached block when its layout
/// fits.
pub fn alloc_waiter<T>(make: impl FnOnce(Unparker) -> T) -> Box<T> {
    let me = current();
    let g = me.green_ptr();
    let value = make(me);
    let layout = Layout::new::<T>();
    if let (Some(g), true) = (g, layout.size() != 0) {
        // SAFETY: `g` is the caller's own green thread (`current`), running now: the only
        // party touching its cache.
        let cache = unsafe { &mut *(*g).waiter_cache.get() };
        if let Some(block) = cache.take(layout) {
            let p = block.cast::<T>().as_ptr();
            // SAFETY: the block was allocated by the global allocator with
            // `Layout::new::<T>()` and holds no value (the cache's invariant), which is
            // exactly what `Box::from_raw` needs once we write the value.
            unsafe {
                p.write(value);
                return Box::from_raw(p);
            }
        }
    }
    Box::new(value)
}

/// Drops `b`'s value and keeps its block in the calling green thread's waiter cache. On an
/// OS thread, a plain drop.
pub fn free_waiter<T>(b: Box<T>) {
    let layout = Layout::new::<T>();
    let Some(g) = running_g().filter(|_| layout.size() != 0) else {
        return drop(b);
    };
    let p = Box::into_raw(b);
    // SAFETY: `p` came from a live `Box<T>`; we drop its value once and keep the block.
    unsafe { p.drop_in_place() };
    // SAFETY: `p` came from a live `Box<T>`, so it is non-null.
    let block = unsafe { std::ptr::NonNull::new_unchecked(p.cast::<u8>()) };
    // SAFETY: we are the G `g`, the only party touching its cache; the block was
    // allocated with `layout` and now holds no value.
    unsafe { (*(*g).waiter_cache.get()).put(block, layout) };
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
