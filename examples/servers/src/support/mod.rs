//! What both servers share: the accept loop, the read buffer, the clients' memory budget
//! and graceful shutdown.

pub mod accept;
pub(crate) mod budget;
pub(crate) mod buffers;
pub(crate) mod read_buf;
pub(crate) mod shutdown;

/// Values and buffers of 256 KiB and more are mapped and unmapped on their own. glibc's
/// default raises this threshold to the largest block freed so far, after which a freed
/// 15 MiB value stays in the heap: 30 idle kv clients that had each sent one held 78 MiB
/// instead of 18, and 50 idle HTTP connections after a 1 MiB body each 122 KiB instead
/// of 20 (redis-server, on jemalloc, has no such threshold). Called first in `main`.
pub(crate) fn large_allocations_go_back_to_the_kernel() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt(3) only changes a malloc parameter; it is called before any thread
    // of ours starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// `goro::run` for a server's main green thread; with `compact_after`, the stacks of
/// green threads parked that long are compacted (`Builder::compact_parked_stacks`): an
/// idle connection's green thread then costs its few hundred live bytes instead of its
/// stack pages (ch.6 of the walkthrough has the figures).
pub(crate) fn run<T: Send + 'static>(
    compact_after: Option<std::time::Duration>,
    main: impl FnOnce() -> T + Send + 'static,
) -> T {
    let mut builder = goro::Runtime::builder();
    if let Some(after) = compact_after {
        // The servers wait only on sockets, channels, locks and timers, never in a scope.
        // SAFETY: no server green thread lends a stack frame to another thread (no scoped
        // threads, no stack buffer handed to code that writes into it later).
        builder = unsafe { builder.compact_parked_stacks(after) };
    }
    builder.run(main)
}

/// `bytes` cut at the points `cuts` pick, empty pieces left out: how the parsers'
/// property tests deliver a frame in arbitrary reads.
#[cfg(test)]
pub(crate) fn split_at_cuts<'a>(
    bytes: &'a [u8],
    cuts: &[proptest::sample::Index],
) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for c in at {
        chunks.push(&bytes[from..c]);
        from = c;
    }
    chunks.push(&bytes[from..]);
    chunks.retain(|c| !c.is_empty());
    chunks
}
