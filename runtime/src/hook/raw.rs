//! The system calls behind the hooked functions, made directly (invariant 3: never through
//! libc's wrappers, which the hooks replace). Each returns what the C library's wrapper
//! returns: the result, or -1 with `errno` set (`syscall(2)` does that).

use libc::{c_int, c_long, c_void, size_t, sockaddr, socklen_t};

/// # Safety
/// The arguments are valid for the system call `nr`.
#[inline(always)]
unsafe fn sys6(nr: c_long, a: [c_long; 6]) -> isize {
    // SAFETY: forwarded.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) as isize }
}

/// [`sys6`] for the calls that take three arguments.
///
/// # Safety
/// As for [`sys6`].
#[inline(always)]
unsafe fn sys3(nr: c_long, a: c_long, b: c_long, c: c_long) -> isize {
    // SAFETY: forwarded.
    unsafe { sys6(nr, [a, b, c, 0, 0, 0]) }
}

/// # Safety
/// `buf` is valid for writes of `len` bytes.
pub(super) unsafe fn read(fd: c_int, buf: *mut c_void, len: size_t) -> isize {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_read, fd as c_long, buf as c_long, len as c_long) }
}

/// # Safety
/// `buf` is valid for reads of `len` bytes.
pub(super) unsafe fn write(fd: c_int, buf: *const c_void, len: size_t) -> isize {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_write, fd as c_long, buf as c_long, len as c_long) }
}

/// # Safety
/// `iov` points to `n` valid iovecs.
pub(super) unsafe fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_readv, fd as c_long, iov as c_long, n as c_long) }
}

/// # Safety
/// `iov` points to `n` valid iovecs.
pub(super) unsafe fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_writev, fd as c_long, iov as c_long, n as c_long) }
}

/// # Safety
/// `buf` is valid for writes of `len` bytes; `addr`/`alen` are null or valid.
pub(super) unsafe fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
) -> isize {
    let a = [
        fd as c_long,
        buf as c_long,
        len as c_long,
        flags as c_long,
        addr as c_long,
        alen as c_long,
    ];
    // SAFETY: forwarded.
    unsafe { sys6(libc::SYS_recvfrom, a) }
}

/// # Safety
/// `buf` is valid for reads of `len` bytes; `addr` is null or valid for `alen` bytes.
pub(super) unsafe fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    alen: socklen_t,
) -> isize {
    let a = [
        fd as c_long,
        buf as c_long,
        len as c_long,
        flags as c_long,
        addr as c_long,
        alen as c_long,
    ];
    // SAFETY: forwarded.
    unsafe { sys6(libc::SYS_sendto, a) }
}

/// # Safety
/// `msg` is a valid msghdr.
pub(super) unsafe fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe {
        sys3(
            libc::SYS_recvmsg,
            fd as c_long,
            msg as c_long,
            flags as c_long,
        )
    }
}

/// # Safety
/// `msg` is a valid msghdr.
pub(super) unsafe fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe {
        sys3(
            libc::SYS_sendmsg,
            fd as c_long,
            msg as c_long,
            flags as c_long,
        )
    }
}

/// # Safety
/// `addr` is valid for `len` bytes.
pub(super) unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> isize {
    // SAFETY: forwarded.
    unsafe {
        sys3(
            libc::SYS_connect,
            fd as c_long,
            addr as c_long,
            len as c_long,
        )
    }
}

/// # Safety
/// `addr`/`len` are null or valid.
pub(super) unsafe fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> isize {
    let a = [
        fd as c_long,
        addr as c_long,
        len as c_long,
        flags as c_long,
        0,
        0,
    ];
    // SAFETY: forwarded.
    unsafe { sys6(libc::SYS_accept4, a) }
}

/// # Safety
/// `fds` points to `n` valid pollfds.
pub(super) unsafe fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout_ms: c_int) -> isize {
    // `poll` is not a system call on every architecture; `ppoll` is.
    let ts;
    let tsp = if timeout_ms < 0 {
        std::ptr::null()
    } else {
        ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) as libc::c_long) * 1_000_000,
        };
        &ts as *const libc::timespec
    };
    let a = [fds as c_long, n as c_long, tsp as c_long, 0, 0, 0];
    // SAFETY: forwarded; `ts` outlives the call.
    unsafe { sys6(libc::SYS_ppoll, a) }
}

/// # Safety
/// `req` is valid; `rem` is null or valid.
pub(super) unsafe fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    let a = [
        clock as c_long,
        flags as c_long,
        req as c_long,
        rem as c_long,
        0,
        0,
    ];
    // SAFETY: forwarded.
    let r = unsafe { sys6(libc::SYS_clock_nanosleep, a) };
    // clock_nanosleep(3) returns the error number instead of setting errno.
    if r < 0 {
        super::errno()
    } else {
        0
    }
}

pub(super) fn close(fd: c_int) -> c_int {
    // SAFETY: closing a descriptor number has no memory-safety preconditions.
    unsafe { sys3(libc::SYS_close, fd as c_long, 0, 0) as c_int }
}

pub(super) fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: plain integers.
    unsafe {
        sys3(
            libc::SYS_dup3,
            old as c_long,
            new as c_long,
            flags as c_long,
        ) as c_int
    }
}

pub(super) fn fcntl_getfl(fd: c_int) -> c_int {
    // SAFETY: F_GETFL takes no argument.
    unsafe { fcntl3(fd, libc::F_GETFL, 0) }
}

pub(super) fn fcntl_setfl(fd: c_int, flags: c_int) -> c_int {
    // SAFETY: F_SETFL takes an integer.
    unsafe { fcntl3(fd, libc::F_SETFL, flags as libc::c_ulong) }
}

// `fstat` is not hooked: libc's own is fine here.

/// Device and inode of `fd`'s file (invariant 2), or `None` if it is not open.
pub(super) fn identity(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes.
    let r = unsafe { libc::fstat(fd, &mut st) };
    (r == 0).then_some((st.st_dev as u64, st.st_ino as u64))
}

/// The socket's `SO_RCVTIMEO` (read) or `SO_SNDTIMEO` (write); `None` for none (or not a
/// socket).
pub(super) fn socket_timeout(
    fd: c_int,
    dir: crate::net::source::Dir,
) -> Option<std::time::Duration> {
    let name = match dir {
        crate::net::source::Dir::Read => libc::SO_RCVTIMEO,
        crate::net::source::Dir::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as socklen_t;
    // SAFETY: `tv` and `len` are valid for writes of the sizes given (`getsockopt` is
    // not hooked).
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    timeval_duration(if r < 0 { None } else { Some(&tv) })
}

/// A `timeval` as a timeout: zero (or none) is no timeout.
pub(super) fn timeval_duration(tv: Option<&libc::timeval>) -> Option<std::time::Duration> {
    let tv = tv?;
    if tv.tv_sec <= 0 && tv.tv_usec <= 0 {
        return None;
    }
    Some(std::time::Duration::new(
        tv.tv_sec.max(0) as u64,
        (tv.tv_usec.max(0) as u32) * 1000,
    ))
}

/// # Safety
/// `arg` is what `cmd` expects.
pub(super) unsafe fn fcntl3(fd: c_int, cmd: c_int, arg: libc::c_ulong) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_fcntl, fd as c_long, cmd as c_long, arg as c_long) as c_int }
}

/// # Safety
/// `arg` is what `req` expects.
pub(super) unsafe fn ioctl3(fd: c_int, req: libc::c_ulong, arg: libc::c_ulong) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys3(libc::SYS_ioctl, fd as c_long, req as c_long, arg as c_long) as c_int }
}

/// # Safety
/// `val` is valid for `len` bytes.
pub(super) unsafe fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let a = [
        fd as c_long,
        level as c_long,
        name as c_long,
        val as c_long,
        len as c_long,
        0,
    ];
    // SAFETY: forwarded.
    unsafe { sys6(libc::SYS_setsockopt, a) as c_int }
}
