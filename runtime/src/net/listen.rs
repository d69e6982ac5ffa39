//! Listener options (Go's `net.ListenConfig`): the backlog, `SO_REUSEPORT`, and TCP
//! keep-alive for the connections a listener accepts; and `setsockopt` helpers for them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use super::resolve::each_addr;
use super::sys;
use super::{TcpListener, UnixListener};

/// How to listen (Go's `net.ListenConfig`). `TcpListener::bind` is
/// `ListenConfig::new().listen_tcp(addr)`.
///
/// ```
/// use std::time::Duration;
/// goro_runtime::run(|| {
///     let ln = goro_runtime::net::ListenConfig::new()
///         .backlog(1024)
///         .reuse_port(true)
///         .keep_alive(Some(Duration::from_secs(15)))
///         .listen_tcp("127.0.0.1:0")
///         .unwrap();
///     let addr = ln.local_addr().unwrap();
///     let c = goro_runtime::net::TcpStream::connect(addr).unwrap();
///     let (s, _) = ln.accept().unwrap();
///     assert_eq!(s.keepalive().unwrap(), Some(Duration::from_secs(15)));
///     drop(c);
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct ListenConfig {
    backlog: Option<u32>,
    reuse_port: bool,
    keep_alive: Option<Duration>,
}

impl ListenConfig {
    /// Go's defaults: the backlog is `net.core.somaxconn`, no `SO_REUSEPORT`, no
    /// keep-alive set on accepted connections (the kernel's default applies).
    pub fn new() -> ListenConfig {
        ListenConfig::default()
    }

    /// The listen backlog (the kernel caps it at `net.core.somaxconn`).
    pub fn backlog(mut self, n: u32) -> ListenConfig {
        self.backlog = Some(n);
        self
    }

    /// Sets `SO_REUSEPORT` before binding: several listeners (in this process or others)
    /// may bind the same address, and the kernel spreads connections over them.
    pub fn reuse_port(mut self, on: bool) -> ListenConfig {
        self.reuse_port = on;
        self
    }

    /// TCP keep-alive for every accepted connection: probes after `period` of silence,
    /// every `period` (Go's `ListenConfig.KeepAlive`); `None` leaves the kernel's default.
    pub fn keep_alive(mut self, period: Option<Duration>) -> ListenConfig {
        self.keep_alive = period;
        self
    }

    /// A TCP listener on `addr` (the first of its addresses that works).
    pub fn listen_tcp<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| self.listen_tcp_addr(a))
    }

    fn listen_tcp_addr(&self, addr: &SocketAddr) -> io::Result<TcpListener> {
        let fd = sys::socket(addr, libc::SOCK_STREAM)?;
        set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?; // as std does
        if self.reuse_port {
            set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        sys::bind(&fd, addr)?;
        sys::relisten(&fd, self.backlog_or_default())?;
        // SAFETY: `fd` is an owned, bound, listening TCP socket; ownership moves.
        let std = unsafe { std::net::TcpListener::from_raw_fd(fd.into_raw_fd()) };
        let ln = TcpListener::from_std(std)?;
        ln.set_accepted_keep_alive(self.keep_alive);
        Ok(ln)
    }

    /// A Unix-domain listener on the socket file `path`, with this backlog.
    pub fn listen_unix<P: AsRef<Path>>(&self, path: P) -> io::Result<UnixListener> {
        let ln = std::os::unix::net::UnixListener::bind(path)?;
        sys::relisten(&ln, self.backlog_or_default())?;
        UnixListener::from_std(ln)
    }

    fn backlog_or_default(&self) -> libc::c_int {
        self.backlog
            .map_or_else(sys::max_backlog, |n| n.min(i32::MAX as u32) as libc::c_int)
    }
}

/// `setsockopt` of an integer option.
pub(crate) fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from the value on our stack.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt` of an integer option.
pub(crate) fn get_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the value on our stack.
    let r = unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// TCP keep-alive on `fd`: probes after `period` idle, every `period` (`None`: off).
pub(crate) fn set_keep_alive(fd: RawFd, period: Option<Duration>) -> io::Result<()> {
    match period {
        None => set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0),
        Some(p) => {
            let secs = p.as_secs().clamp(1, i32::MAX as u64) as i32;
            set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
            set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs)?;
            set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs)
        }
    }
}

/// The keep-alive period on `fd`, if keep-alive is on.
pub(crate) fn keep_alive(fd: RawFd) -> io::Result<Option<Duration>> {
    if get_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? == 0 {
        return Ok(None);
    }
    let secs = get_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE)?;
    Ok(Some(Duration::from_secs(secs.max(0) as u64)))
}
