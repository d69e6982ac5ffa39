//! A green thread's cached wait-record block (Go's sudog cache, kept per G).
//!
//! Wait records must live off the parked stack (module docs of `park`), so every blocking
//! channel operation used to `Box` one and free it after waking: a `malloc`/`free` pair per
//! park. Worse, a green thread often wakes on another worker than the one it parked on, so
//! the `free` lands in another thread's allocator cache than the `malloc` came from, and
//! glibc pays for the imbalance in its slow path (W8, the prime sieve, spent ~10% there).
//!
//! Go keeps freed `sudog`s in a per-P cache (`acquireSudog`/`releaseSudog`). goro keeps one
//! block *per green thread*: a green thread that parks over and over on the same kind of
//! operation — a filter in a pipeline, a worker in a loop — reuses the same block every
//! time, and since only the green thread itself touches its cache, no synchronisation is
//! needed. The block of a dead green thread stays with the recycled G and is freed with it.
//! `park::{alloc_waiter, free_waiter}` are the users.
//!
//! # Invariant
//! A cache holds nothing or one block allocated by the global allocator with the stored
//! layout, holding no value; only the G itself, while running, takes or puts it (or whoever
//! drops the G, which then has no other user).

use std::alloc::Layout;
use std::ptr::NonNull;

/// A cached block: its address and the layout it was allocated with, packed into two
/// words (a `Layout` alone takes two) to keep `G` within four cache lines.
#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: NonNull<u8>,
    size: u32,
    align: u32,
}

impl Block {
    fn layout(self) -> Layout {
        // SAFETY: `size` and `align` came from a valid `Layout` in `WaiterCache::put`.
        unsafe { Layout::from_size_align_unchecked(self.size as usize, self.align as usize) }
    }
}

/// One G's cache: empty, or one free block (the invariant).
#[derive(Debug, Default)]
pub(crate) struct WaiterCache {
    block: Option<Block>,
}

impl WaiterCache {
    /// Takes the cached block if it was allocated with `layout`; it holds no value.
    pub(crate) fn take(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let block = self.block.filter(|b| b.layout() == layout)?;
        self.block = None;
        Some(block.ptr)
    }

    /// Keeps `ptr` as the cached block, freeing the one cached before; frees `ptr` at once
    /// if its layout does not pack (a wait record of 4 GiB).
    ///
    /// # Safety
    /// `ptr` was allocated by the global allocator with `layout`, holds no value, and
    /// nobody else will use it.
    pub(crate) unsafe fn put(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let packed = (u32::try_from(layout.size()), u32::try_from(layout.align()));
        let (Ok(size), Ok(align)) = packed else {
            // SAFETY: by this function's contract.
            return unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
        };
        free(self.block.replace(Block { ptr, size, align }));
    }
}

impl Drop for WaiterCache {
    fn drop(&mut self) {
        free(self.block.take());
    }
}

fn free(block: Option<Block>) {
    if let Some(block) = block {
        // SAFETY: allocated by the global allocator with this layout (invariant).
        unsafe { std::alloc::dealloc(block.ptr.as_ptr(), block.layout()) };
    }
}
