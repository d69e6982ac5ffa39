//! Blocking libc calls from green threads park the green thread (`hook` feature): the
//! socket and sleep calls of the C library, defined again in the program itself.
//!
//! # Why it works, and why it is opt-in
//! A function the executable defines takes precedence over the C library's for every call
//! the executable makes through libc — Rust's `std` included (`std::net`, `thread::sleep`)
//! and every sync crate built on it (ureq, redis, tungstenite). WeChat's libco, libgo and
//! Photon hook the same calls with the same linker rule. With the feature on, goro-runtime
//! defines `read`, `recv`, `connect`, `accept4`, `poll`, `clock_nanosleep` and the rest
//! (`calls.rs`); each checks one thread-local — *is this a green thread?* — and otherwise
//! makes the system call itself, exactly as the C library would. Process-wide
//! interposition is not something a library should do unasked, hence the feature.
//!
//! # What a hooked call does in a green thread
//! * **Sockets** (`read`, `write`, `readv`, `writev`, `recv*`, `send*`): the call is made
//!   with `MSG_DONTWAIT`, which makes this one call non-blocking without touching the
//!   descriptor's flags. If it would block and the descriptor is blocking (`F_GETFL`: the
//!   program did not ask for `O_NONBLOCK`), the green thread parks on the runtime's
//!   netpoller (the fd is registered once, edge-triggered, as `goro::net` sockets are) and
//!   the call is retried when the socket is ready. `SO_RCVTIMEO`/`SO_SNDTIMEO` bound the
//!   wait and end it with `EAGAIN`, as the kernel's blocking call does.
//! * **`accept`/`accept4`**: parks until the listener is readable, then accepts.
//! * **`connect`**: starts the connection in non-blocking mode (the flag is restored right
//!   after the call), parks until writable, reports `SO_ERROR`.
//! * **`poll`** of one socket: parks on readiness up to the timeout.
//! * **`nanosleep`, `clock_nanosleep`, `usleep`, `sleep`**: `goro::sleep`.
//!
//! Everything else passes straight through: calls from any thread that is not running a
//! green thread, descriptors that are not sockets (`read` of a file: `ENOTSOCK` from the
//! `MSG_DONTWAIT` attempt, then the plain call), descriptors the program made
//! non-blocking, calls with `MSG_DONTWAIT` already, `poll` of several descriptors.
//!
//! # Invariants
//! 1. The descriptor's flags are never changed, but for the instant of a `connect` (so
//!    `fcntl(F_GETFL)` and `ioctl(FIONBIO)` see what the program set; nothing to track).
//! 2. A registration in [`table`] names the file it was made for (device and inode). The
//!    hooked `close`, `dup2` and `dup3` remove it from epoll *before* the fd is closed and
//!    wake its waiters, which fail with `EBADF` rather than touch a reused fd number. A
//!    close the hooks cannot see (a raw system call) is caught by the identity check at
//!    the next wait; that registration is leaked, never freed while epoll may name it.
//! 3. The hooks never call libc's version of a hooked function (that would be themselves):
//!    they make raw system calls (`raw.rs`).
//! 4. An entry reads the descriptor's `O_NONBLOCK`, `SO_RCVTIMEO` and `SO_SNDTIMEO` once,
//!    when it is made; from then on the hooked `fcntl(F_SETFL)`, `ioctl(FIONBIO)` and
//!    `setsockopt` keep them current, so a wait costs no system call to learn them.

mod calls;
mod raw;
mod table;

use std::time::{Duration, Instant};

use crate::net::source::Dir;

thread_local! {
    /// Set while `goro::net` makes its own (non-blocking) calls: they need no hook.
    static BYPASS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True when the call should be hooked: the caller is a green thread, and not inside
/// `goro::net`'s own I/O.
#[inline]
fn should_hook() -> bool {
    crate::park::in_green_thread() && !BYPASS.with(std::cell::Cell::get)
}

/// Runs `op` — `goro::net`'s own system calls on its non-blocking sockets — past the hooks
/// (one thread-local store each way; they would only find the socket non-blocking).
#[inline]
pub(crate) fn bypass<R>(op: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BYPASS.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BYPASS.with(|b| b.replace(true)));
    op()
}

/// Why a wait on a descriptor ended without readiness.
enum WaitFail {
    /// The deadline passed.
    TimedOut,
    /// The descriptor was closed meanwhile.
    Closed,
    /// It cannot be waited on by the netpoller (not pollable, no runtime): block instead.
    Unpollable,
}

/// Parks the calling green thread until `fd` may be ready for `dir`, or `deadline`.
fn wait(fd: libc::c_int, dir: Dir, deadline: Option<Instant>) -> Result<(), WaitFail> {
    match table::entry(fd) {
        Some(entry) => wait_on(&entry, fd, dir, deadline),
        None => Err(WaitFail::Unpollable),
    }
}

/// [`wait`] on an entry already looked up.
fn wait_on(
    entry: &table::Entry,
    fd: libc::c_int,
    dir: Dir,
    deadline: Option<Instant>,
) -> Result<(), WaitFail> {
    if entry.is_closed() {
        return Err(WaitFail::Closed);
    }
    match entry.source.wait(fd, dir, deadline) {
        Ok(true) if entry.is_closed() => Err(WaitFail::Closed),
        Ok(true) => Ok(()),
        Ok(false) => Err(WaitFail::TimedOut),
        Err(_) => Err(WaitFail::Unpollable),
    }
}

/// What a blocking call on `fd` in direction `dir` would wait for: `None` if the program
/// made `fd` non-blocking (a would-block is then its answer) or it cannot be registered;
/// else the entry and the deadline its `SO_RCVTIMEO`/`SO_SNDTIMEO` sets (invariant 4).
fn prepare_wait(fd: libc::c_int, dir: Dir) -> Prepared {
    let Some(entry) = table::entry(fd) else {
        return Prepared::Unpollable;
    };
    if entry.is_nonblocking() {
        return Prepared::NonBlocking;
    }
    let deadline = entry
        .source
        .timeout(dir)
        .and_then(|t| Instant::now().checked_add(t));
    Prepared::Wait(entry, deadline)
}

enum Prepared {
    Wait(std::sync::Arc<table::Entry>, Option<Instant>),
    NonBlocking,
    Unpollable,
}

fn errno() -> libc::c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn set_errno(e: libc::c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// The would-block loop of a socket call. `attempt` makes the call without blocking
/// (`MSG_DONTWAIT`); `blocking` makes the plain call (when the netpoller cannot help);
/// `made` is the result of an attempt the caller already made.
fn socket_io(
    fd: libc::c_int,
    dir: Dir,
    mut made: Option<isize>,
    mut attempt: impl FnMut() -> isize,
    blocking: impl FnOnce() -> isize,
) -> isize {
    let mut waiting = None;
    loop {
        let r = made.take().unwrap_or_else(&mut attempt);
        if r >= 0 {
            return r;
        }
        let e = errno();
        if e == libc::EINTR {
            continue;
        }
        if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
            return r;
        }
        if waiting.is_none() {
            waiting = match prepare_wait(fd, dir) {
                Prepared::Wait(entry, deadline) => Some((entry, deadline)),
                Prepared::NonBlocking => {
                    set_errno(e);
                    return r;
                }
                Prepared::Unpollable => return blocking(),
            };
        }
        let (entry, deadline) = waiting.as_ref().expect("prepared");
        match wait_on(entry, fd, dir, *deadline) {
            Ok(()) => {}
            Err(WaitFail::TimedOut) => {
                set_errno(libc::EAGAIN);
                return -1;
            }
            Err(WaitFail::Closed) => {
                set_errno(libc::EBADF);
                return -1;
            }
            Err(WaitFail::Unpollable) => return blocking(),
        }
    }
}

/// Parks the green thread for `d` (the sleep hooks).
fn sleep(d: Duration) {
    crate::sleep(d);
}
