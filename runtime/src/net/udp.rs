//! `UdpSocket`: std::net's shape, parking the green thread on the netpoller.

use std::fmt;
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::source::{Dir, Source};
use super::tcp::each_addr;

/// A UDP socket (Go's `net.UDPConn`). Receives park the green thread until a datagram
/// arrives; on an OS thread they block the thread.
pub struct UdpSocket {
    source: Source, // dropped before `inner` (see `source.rs`)
    inner: net::UdpSocket,
}

impl UdpSocket {
    /// Binds to `addr`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(net::UdpSocket::bind(addr)?)
    }

    /// Wraps a std socket (switching it to non-blocking mode).
    pub fn from_std(inner: net::UdpSocket) -> io::Result<UdpSocket> {
        inner.set_nonblocking(true)?;
        Ok(UdpSocket {
            source: Source::new(),
            inner,
        })
    }

    /// Unwraps into a std socket in blocking mode.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        let UdpSocket { source, inner } = self;
        drop(source);
        inner.set_nonblocking(false)?;
        Ok(inner)
    }

    /// Sends a datagram to `addr`.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        each_addr(addr, |a| {
            self.source.io(self.inner.as_raw_fd(), Dir::Write, || {
                self.inner.send_to(buf, a)
            })
        })
    }

    /// Receives a datagram, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.io(self.inner.as_raw_fd(), Dir::Read, || {
            self.inner.recv_from(buf)
        })
    }

    /// Receives without consuming.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.io(self.inner.as_raw_fd(), Dir::Read, || {
            self.inner.peek_from(buf)
        })
    }

    /// Sets the default peer for `send`/`recv` and filters incoming datagrams.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source
            .io(self.inner.as_raw_fd(), Dir::Write, || self.inner.send(buf))
    }

    /// Receives from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source
            .io(self.inner.as_raw_fd(), Dir::Read, || self.inner.recv(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Limits how long a receive waits (`WouldBlock` when it expires, as std on Unix).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Dir::Read, t)
    }

    /// Limits how long a send waits.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Dir::Write, t)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Dir::Read))
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Dir::Write))
    }

    /// A new handle to the same socket (`dup`).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.inner.try_clone()?)
    }

    /// Takes the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl From<UdpSocket> for OwnedFd {
    /// The descriptor, still in non-blocking mode.
    fn from(s: UdpSocket) -> OwnedFd {
        let UdpSocket { source, inner } = s;
        drop(source);
        inner.into()
    }
}

impl TryFrom<net::UdpSocket> for UdpSocket {
    type Error = io::Error;
    fn try_from(s: net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std(s)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
