//! The hooked functions, with the C library's names and signatures. Each is one
//! thread-local check away from the plain system call (`mod.rs` for what happens in a
//! green thread). `extern "C-unwind"`: a green thread parked in one may be unwound when
//! its runtime is dropped.
//!
//! Hooked: `read`, `write`, `readv`, `writev`, `recv`, `recvfrom`, `recvmsg`, `send`,
//! `sendto`, `sendmsg`, `connect`, `accept`, `accept4`, `poll`, `nanosleep`,
//! `clock_nanosleep`, `usleep`, `sleep`; to keep registrations exact, `close`, `dup2`,
//! `dup3`; and to know what the program asked of a descriptor without a system call per
//! wait (`mod.rs`, invariant 4), `fcntl`, `ioctl` and `setsockopt`, which make the call
//! and note `O_NONBLOCK`, `FIONBIO`, `SO_RCVTIMEO` and `SO_SNDTIMEO`.

use std::time::{Duration, Instant};

use libc::{c_int, c_uint, c_void, size_t, sockaddr, socklen_t, ssize_t};

use super::{prepare_wait, raw, should_hook, socket_io, table, wait, wait_on, Prepared, WaitFail};
use crate::net::source::Dir;

/// A socket call made non-blocking for one call; `ENOTSOCK` sends the caller to the
/// plain call.
const DONTWAIT: c_int = libc::MSG_DONTWAIT;

#[no_mangle]
unsafe extern "C-unwind" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    if !should_hook() {
        // SAFETY: the caller's arguments, as for read(2).
        return unsafe { raw::read(fd, buf, len) };
    }
    // SAFETY: the caller's arguments, as for read(2).
    unsafe { read_green(fd, buf, len) }
}

/// `read` in a green thread, out of line: the pass-through path stays a few instructions.
///
/// # Safety
/// As for read(2).
#[inline(never)]
unsafe fn read_green(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, valid as the C function requires.
    let attempt = || unsafe {
        raw::recvfrom(
            fd,
            buf,
            len,
            DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let r = attempt();
    if r < 0 && super::errno() == libc::ENOTSOCK {
        // SAFETY: as above.
        return unsafe { raw::read(fd, buf, len) };
    }
    // SAFETY: the caller's arguments, valid as the C function requires.
    first_then_loop(r, fd, Dir::Read, attempt, || unsafe {
        raw::read(fd, buf, len)
    })
}

#[no_mangle]
unsafe extern "C-unwind" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    if !should_hook() {
        // SAFETY: the caller's arguments, as for write(2).
        return unsafe { raw::write(fd, buf, len) };
    }
    // SAFETY: the caller's arguments, as for write(2).
    unsafe { write_green(fd, buf, len) }
}

/// `write` in a green thread, out of line (as [`read_green`]).
///
/// # Safety
/// As for write(2).
#[inline(never)]
unsafe fn write_green(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // No MSG_NOSIGNAL: SIGPIPE is raised exactly as write(2) raises it.
    // SAFETY: the caller's arguments, valid as the C function requires.
    let attempt = || unsafe { raw::sendto(fd, buf, len, DONTWAIT, std::ptr::null(), 0) };
    let r = attempt();
    if r < 0 && super::errno() == libc::ENOTSOCK {
        // SAFETY: as above.
        return unsafe { raw::write(fd, buf, len) };
    }
    // SAFETY: the caller's arguments, valid as the C function requires.
    first_then_loop(r, fd, Dir::Write, attempt, || unsafe {
        raw::write(fd, buf, len)
    })
}

#[no_mangle]
unsafe extern "C-unwind" fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    if !should_hook() {
        // SAFETY: the caller's arguments, as for readv(2).
        return unsafe { raw::readv(fd, iov, n) };
    }
    let mut msg = msghdr_of(iov, n);
    let mut attempt = || {
        // SAFETY: `msg` describes the caller's iovecs.
        unsafe { raw::recvmsg(fd, &mut msg, DONTWAIT) }
    };
    let r = attempt();
    if r < 0 && super::errno() == libc::ENOTSOCK {
        // SAFETY: as above.
        return unsafe { raw::readv(fd, iov, n) };
    }
    // SAFETY: the caller's arguments, valid as the C function requires.
    first_then_loop(r, fd, Dir::Read, attempt, || unsafe {
        raw::readv(fd, iov, n)
    })
}

#[no_mangle]
unsafe extern "C-unwind" fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    if !should_hook() {
        // SAFETY: the caller's arguments, as for writev(2).
        return unsafe { raw::writev(fd, iov, n) };
    }
    let msg = msghdr_of(iov, n);
    // SAFETY: `msg` describes the caller's iovecs.
    let attempt = || unsafe { raw::sendmsg(fd, &msg, DONTWAIT) };
    let r = attempt();
    if r < 0 && super::errno() == libc::ENOTSOCK {
        // SAFETY: as above.
        return unsafe { raw::writev(fd, iov, n) };
    }
    // SAFETY: the caller's arguments, valid as the C function requires.
    first_then_loop(r, fd, Dir::Write, attempt, || unsafe {
        raw::writev(fd, iov, n)
    })
}

fn msghdr_of(iov: *const libc::iovec, n: c_int) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov as *mut libc::iovec;
    msg.msg_iovlen = n.max(0) as _;
    msg
}

/// The rest of [`socket_io`] after a first attempt that returned `r`.
fn first_then_loop(
    r: isize,
    fd: c_int,
    dir: Dir,
    attempt: impl FnMut() -> isize,
    blocking: impl FnOnce() -> isize,
) -> isize {
    socket_io(fd, dir, Some(r), attempt, blocking)
}

#[no_mangle]
unsafe extern "C-unwind" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's arguments, as for recv(2).
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

#[no_mangle]
unsafe extern "C-unwind" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
) -> ssize_t {
    if !should_hook() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments, as for recvfrom(2).
        return unsafe { raw::recvfrom(fd, buf, len, flags, addr, alen) };
    }
    socket_io(
        fd,
        Dir::Read,
        None,
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::recvfrom(fd, buf, len, flags | DONTWAIT, addr, alen) },
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::recvfrom(fd, buf, len, flags, addr, alen) },
    )
}

#[no_mangle]
unsafe extern "C-unwind" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t {
    if !should_hook() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments, as for recvmsg(2).
        return unsafe { raw::recvmsg(fd, msg, flags) };
    }
    socket_io(
        fd,
        Dir::Read,
        None,
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::recvmsg(fd, msg, flags | DONTWAIT) },
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::recvmsg(fd, msg, flags) },
    )
}

#[no_mangle]
unsafe extern "C-unwind" fn send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's arguments, as for send(2).
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

#[no_mangle]
unsafe extern "C-unwind" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    alen: socklen_t,
) -> ssize_t {
    if !should_hook() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments, as for sendto(2).
        return unsafe { raw::sendto(fd, buf, len, flags, addr, alen) };
    }
    socket_io(
        fd,
        Dir::Write,
        None,
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::sendto(fd, buf, len, flags | DONTWAIT, addr, alen) },
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::sendto(fd, buf, len, flags, addr, alen) },
    )
}

#[no_mangle]
unsafe extern "C-unwind" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    if !should_hook() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments, as for sendmsg(2).
        return unsafe { raw::sendmsg(fd, msg, flags) };
    }
    socket_io(
        fd,
        Dir::Write,
        None,
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::sendmsg(fd, msg, flags | DONTWAIT) },
        // SAFETY: the caller's arguments, valid as the C function requires.
        || unsafe { raw::sendmsg(fd, msg, flags) },
    )
}

#[no_mangle]
unsafe extern "C-unwind" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if !should_hook() {
        // SAFETY: the caller's arguments, valid as the C function requires.
        return unsafe { raw::connect(fd, addr, len) } as c_int;
    }
    let (entry, deadline) = match prepare_wait(fd, Dir::Write) {
        Prepared::Wait(entry, deadline) => (entry, deadline),
        // SAFETY: the caller's arguments, valid as the C function requires.
        _ => return unsafe { raw::connect(fd, addr, len) } as c_int,
    };
    let flags = raw::fcntl_getfl(fd);
    if flags < 0 || raw::fcntl_setfl(fd, flags | libc::O_NONBLOCK) < 0 {
        // SAFETY: the caller's arguments, valid as the C function requires.
        return unsafe { raw::connect(fd, addr, len) } as c_int;
    }
    // SAFETY: the caller's arguments, valid as the C function requires.
    let r = unsafe { raw::connect(fd, addr, len) };
    let e = super::errno();
    raw::fcntl_setfl(fd, flags); // invariant 1: blocking again at once
    if r == 0 || e != libc::EINPROGRESS {
        super::set_errno(e);
        return r as c_int;
    }
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { raw::poll(&mut pfd, 1, 0) } > 0 {
            break;
        }
        match wait_on(&entry, fd, Dir::Write, deadline) {
            Ok(()) => {}
            Err(WaitFail::TimedOut) => {
                super::set_errno(libc::EINPROGRESS);
                return -1;
            }
            Err(WaitFail::Closed) => {
                super::set_errno(libc::EBADF);
                return -1;
            }
            Err(WaitFail::Unpollable) => {
                // SAFETY: one valid pollfd; blocks this thread, as connect(2) would.
                unsafe { raw::poll(&mut pfd, 1, -1) };
                break;
            }
        }
    }
    let mut err: c_int = 0;
    let mut elen = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `err` and `elen` are valid for writes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut c_int).cast(),
            &mut elen,
        )
    };
    if r < 0 {
        return -1;
    }
    if err != 0 {
        super::set_errno(err);
        return -1;
    }
    0
}

#[no_mangle]
unsafe extern "C-unwind" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's arguments, as for accept(2).
    unsafe { accept4(fd, addr, len, 0) }
}

#[no_mangle]
unsafe extern "C-unwind" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if !should_hook() {
        // SAFETY: the caller's arguments, valid as the C function requires.
        return unsafe { raw::accept4(fd, addr, len, flags) } as c_int;
    }
    let (entry, deadline) = match prepare_wait(fd, Dir::Read) {
        Prepared::Wait(entry, deadline) => (entry, deadline),
        // SAFETY: the caller's arguments, valid as the C function requires.
        _ => return unsafe { raw::accept4(fd, addr, len, flags) } as c_int,
    };
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { raw::poll(&mut pfd, 1, 0) } != 0 {
            // Readable (or an error to report): accept. Another thread may take the
            // connection first; then this blocks as accept(2) would.
            // SAFETY: the caller's arguments, valid as the C function requires.
            return unsafe { raw::accept4(fd, addr, len, flags) } as c_int;
        }
        match wait_on(&entry, fd, Dir::Read, deadline) {
            Ok(()) => {}
            Err(WaitFail::TimedOut) => {
                super::set_errno(libc::EAGAIN);
                return -1;
            }
            Err(WaitFail::Closed) => {
                super::set_errno(libc::EBADF);
                return -1;
            }
            Err(WaitFail::Unpollable) => {
                // SAFETY: the caller's arguments, valid as the C function requires.
                return unsafe { raw::accept4(fd, addr, len, flags) } as c_int;
            }
        }
    }
}

#[no_mangle]
unsafe extern "C-unwind" fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: c_int) -> c_int {
    if !should_hook() || n != 1 || timeout == 0 {
        // SAFETY: the caller's arguments, valid as the C function requires.
        return unsafe { raw::poll(fds, n, timeout) } as c_int;
    }
    // SAFETY: n == 1: one pollfd.
    let pfd = unsafe { &mut *fds };
    let dir = match (
        pfd.events & libc::POLLIN != 0,
        pfd.events & libc::POLLOUT != 0,
    ) {
        (true, false) => Dir::Read,
        (false, true) => Dir::Write,
        // SAFETY: the caller's arguments, valid as the C function requires.
        _ => return unsafe { raw::poll(fds, n, timeout) } as c_int,
    };
    let deadline = (timeout > 0)
        .then(|| Instant::now().checked_add(Duration::from_millis(timeout as u64)))
        .flatten();
    loop {
        // SAFETY: the caller's arguments, valid as the C function requires.
        let r = unsafe { raw::poll(fds, 1, 0) };
        if r != 0 {
            return r as c_int;
        }
        match wait(pfd.fd, dir, deadline) {
            Ok(()) => {}
            Err(WaitFail::TimedOut) => return 0,
            Err(WaitFail::Closed) => {
                pfd.revents = libc::POLLNVAL;
                return 1;
            }
            Err(WaitFail::Unpollable) => {
                let left = deadline.map_or(-1, |d| {
                    d.saturating_duration_since(Instant::now()).as_millis() as c_int
                });
                // SAFETY: the caller's arguments, valid as the C function requires.
                return unsafe { raw::poll(fds, 1, left) } as c_int;
            }
        }
    }
}

#[no_mangle]
unsafe extern "C-unwind" fn nanosleep(
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    // SAFETY: the caller's arguments, as for nanosleep(2).
    let r = unsafe { clock_nanosleep(libc::CLOCK_REALTIME, 0, req, rem) };
    if r != 0 {
        super::set_errno(r);
        return -1;
    }
    0
}

#[no_mangle]
unsafe extern "C-unwind" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    let hooked_clock = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
    );
    if !should_hook() || !hooked_clock || req.is_null() {
        // SAFETY: the caller's arguments, as for clock_nanosleep(2).
        return unsafe { raw::clock_nanosleep(clock, flags, req, rem) };
    }
    // SAFETY: non-null, the caller's.
    let req = unsafe { &*req };
    if req.tv_nsec < 0 || req.tv_nsec >= 1_000_000_000 || req.tv_sec < 0 {
        return libc::EINVAL;
    }
    let mut d = Duration::new(req.tv_sec as u64, req.tv_nsec as u32);
    if flags & libc::TIMER_ABSTIME != 0 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is valid for writes.
        unsafe { libc::clock_gettime(clock, &mut now) };
        let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
        d = d.saturating_sub(now);
    }
    super::sleep(d);
    0
}

#[no_mangle]
unsafe extern "C-unwind" fn usleep(usec: libc::useconds_t) -> c_int {
    if !should_hook() {
        let ts = libc::timespec {
            tv_sec: (usec / 1_000_000) as libc::time_t,
            tv_nsec: ((usec % 1_000_000) * 1000) as libc::c_long,
        };
        // SAFETY: valid timespec.
        let r = unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, std::ptr::null_mut()) };
        if r != 0 {
            super::set_errno(r);
            return -1;
        }
        return 0;
    }
    super::sleep(Duration::from_micros(usec as u64));
    0
}

#[no_mangle]
unsafe extern "C-unwind" fn sleep(secs: c_uint) -> c_uint {
    if !should_hook() {
        let ts = libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: 0,
        };
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid timespecs.
        let r = unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, &mut rem) };
        return if r == 0 { 0 } else { rem.tv_sec as c_uint };
    }
    super::sleep(Duration::from_secs(secs as u64));
    0
}

#[no_mangle]
extern "C-unwind" fn close(fd: c_int) -> c_int {
    table::forget(fd); // invariant 2: out of epoll while the fd still names it
    raw::close(fd)
}

#[no_mangle]
extern "C-unwind" fn dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // dup2 of a descriptor onto itself checks it and changes nothing.
        return if raw::fcntl_getfl(old) < 0 { -1 } else { new };
    }
    table::forget(new);
    raw::dup3(old, new, 0)
}

#[no_mangle]
extern "C-unwind" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        table::forget(new);
    }
    raw::dup3(old, new, flags)
}

// `fcntl` and `ioctl` are variadic in C. Their optional argument is one integer or
// pointer, which the Linux x86-64 and aarch64 calling conventions pass exactly as a third
// fixed argument, so these definitions receive what every caller passes.

#[no_mangle]
unsafe extern "C-unwind" fn fcntl(fd: c_int, cmd: c_int, arg: libc::c_ulong) -> c_int {
    // SAFETY: the caller's arguments, as for fcntl(2).
    let r = unsafe { raw::fcntl3(fd, cmd, arg) };
    if r >= 0 && cmd == libc::F_SETFL {
        table::set_nonblocking(fd, arg as c_int & libc::O_NONBLOCK != 0);
    }
    r
}

#[no_mangle]
unsafe extern "C-unwind" fn ioctl(fd: c_int, req: libc::c_ulong, arg: libc::c_ulong) -> c_int {
    // SAFETY: the caller's arguments, as for ioctl(2).
    let r = unsafe { raw::ioctl3(fd, req, arg) };
    if r >= 0 && req == libc::FIONBIO as libc::c_ulong && arg != 0 {
        // SAFETY: FIONBIO's argument points to an int (the call above read it).
        let on = unsafe { *(arg as *const c_int) } != 0;
        table::set_nonblocking(fd, on);
    }
    r
}

#[no_mangle]
unsafe extern "C-unwind" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, as for setsockopt(2).
    let r = unsafe { raw::setsockopt(fd, level, name, val, len) };
    let timeout = level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
        && len as usize >= std::mem::size_of::<libc::timeval>();
    if r == 0 && timeout {
        // SAFETY: the kernel accepted it as a timeval.
        let t = raw::timeval_duration(Some(unsafe { &*(val as *const libc::timeval) }));
        let dir = if name == libc::SO_RCVTIMEO {
            Dir::Read
        } else {
            Dir::Write
        };
        table::set_timeout(fd, dir, t);
    }
    r
}
