//! Grows the process's descriptor table once, when a runtime starts, so that accepting and
//! connecting sockets under load never waits for the kernel to grow it.
//!
//! # Why
//! Linux keeps a process's open descriptors in one table (`struct fdtable`) that starts
//! with 64 slots and doubles when a new descriptor does not fit (`expand_files` in
//! `fs/file.c`). In a process with more than one thread the kernel must wait out an RCU
//! grace period (`synchronize_rcu`, milliseconds on a busy machine) before it may free
//! the old table, and every thread that allocates a descriptor meanwhile — an
//! `accept`, a `socket`, an `epoll_create` — sleeps uninterruptibly (`D`) until the
//! resize is done. To the runtime a worker in `D` for milliseconds is a worker stuck in a
//! call: sysmon hands its processor to a spare thread (`scheduler/handoff.rs`). A client
//! that opens 10 000 sockets from green threads went through eight resizes and peaked at
//! 6–10 worker threads on two processors (docs ch.14, 2026-12-08); with the table grown up
//! front it peaked at 2–3.
//!
//! # How
//! `fcntl(F_DUPFD_CLOEXEC, n - 1)` duplicates a descriptor the runtime already owns onto
//! the lowest free slot at or above `n - 1`, which makes the kernel grow the table to hold
//! it; closing the duplicate leaves the table grown (Linux never shrinks it). Unlike
//! `dup2` it never closes a descriptor the program has open. It is done before the runtime's
//! first thread starts: in a process that is still single-threaded the resize needs no
//! grace period at all, and later runtimes of the process find the table grown. Best effort: an error (the limit is lower, descriptors are
//! exhausted) leaves the table as it was and is not reported — the table then grows on
//! demand as it always did.
//!
//! # Cost
//! Kernel memory: 8 bytes per slot plus two bits, charged to the process — 8 KiB for the
//! common soft limit of 1 024, 512 KiB at the default cap of 65 536 slots. A program with
//! a high `RLIMIT_NOFILE` and no use for it can turn this off with
//! [`Builder::reserve_fds(0)`](crate::Builder::reserve_fds).

use std::os::fd::AsRawFd;

/// The most slots the runtime reserves by default, whatever `RLIMIT_NOFILE` allows.
pub(crate) const DEFAULT_MAX_RESERVED_FDS: usize = 1 << 16;

/// The default reservation: the soft `RLIMIT_NOFILE`, at most [`DEFAULT_MAX_RESERVED_FDS`].
pub(crate) fn default_reservation() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    usize::try_from(lim.rlim_cur).map_or(DEFAULT_MAX_RESERVED_FDS, |n| {
        n.min(DEFAULT_MAX_RESERVED_FDS)
    })
}

/// Makes the descriptor table hold at least `slots` descriptors, using `owned` (any open
/// descriptor) as the one to duplicate. Returns whether the table now has that room.
pub(crate) fn reserve(owned: &impl AsRawFd, slots: usize) -> bool {
    if slots == 0 {
        return true;
    }
    let Ok(highest) = libc::c_int::try_from(slots - 1) else {
        return false;
    };
    // SAFETY: `owned` is an open descriptor for the duration of the call; F_DUPFD_CLOEXEC
    // only creates a new descriptor, at or above `highest`, and closes none.
    let dup = unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_DUPFD_CLOEXEC, highest) };
    if dup < 0 {
        return false;
    }
    // SAFETY: `dup` was created just above and nothing else knows of it.
    unsafe { libc::close(dup) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's size as the kernel reports it (`FDSize` in `/proc/self/status`).
    fn table_size() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
        line["FDSize:".len()..].trim().parse().unwrap()
    }

    #[test]
    fn reserving_grows_the_table_and_leaves_no_descriptor_open() {
        let want = default_reservation().clamp(1, 4096);
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(reserve(&f, want));
        assert!(table_size() >= want, "FDSize {} < {want}", table_size());
        // The duplicate went to the top slot (no test holds thousands of descriptors) and
        // is closed again.
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        let open = unsafe { libc::fcntl(want as libc::c_int - 1, libc::F_GETFD) };
        assert_eq!(open, -1);
    }

    #[test]
    fn a_reservation_past_the_limit_is_refused_quietly() {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(!reserve(&f, usize::MAX));
        assert!(reserve(&f, 0));
    }
}
