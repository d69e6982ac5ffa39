//! What both servers share: the accept loop, the read buffer, the clients' memory budget
//! and graceful shutdown.

pub mod accept;
pub(crate) mod budget;
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
