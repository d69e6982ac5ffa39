//! Pre-growing the worker thread's malloc arena (glibc).
//!
//! glibc serves each thread from its own arena: a 64 MiB reservation that starts out
//! `PROT_NONE` and is made writable one `mprotect` at a time, exactly as far as the
//! allocations in use reach. A worker that allocates a join slot per spawn and keeps them
//! alive (W1: 200 000 `JoinHandle`s) therefore makes an `mprotect` syscall per 4 KiB of
//! new heap — 4 000 of them, each also a TLB shoot-down for the other workers — where the
//! main arena grows by `sbrk` in 128 KiB steps.
//!
//! When the arena shrinks again glibc returns the pages with `MADV_DONTNEED` but keeps them
//! writable (unless `vm.overcommit_memory` is 2), and growing back within that size needs
//! no syscall. So each worker allocates and frees [`PREWARM_BYTES`] in arena-sized pieces
//! once, at start, and no resident memory is left behind. With
//! other allocators (musl, jemalloc) this is a few `malloc`/`free` calls and nothing else.

/// How far to pre-grow: room for ~250 000 small join slots.
const PREWARM_BYTES: usize = 16 << 20;
/// Just below glibc's default `mmap` threshold (128 KiB), so the pieces come from the
/// arena, each growing it with one `mprotect`.
const PIECE: usize = 127 << 10;

/// Grows the calling thread's malloc arena to [`PREWARM_BYTES`] and releases it again
/// (~130 `mprotect`s once, at worker start, instead of 4 000 later).
pub(crate) fn prewarm() {
    let pieces: Vec<Vec<u8>> = (0..PREWARM_BYTES.div_ceil(PIECE))
        .map(|_| std::hint::black_box(Vec::with_capacity(PIECE)))
        .collect();
    drop(std::hint::black_box(pieces));
}
