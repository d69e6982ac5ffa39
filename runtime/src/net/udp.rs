//! `UdpSocket`: std::net's shape, parking the green thread on the netpoller.

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;

use super::resolve::{each_addr, resolve};
use super::source::{Dir, Source};

/// A UDP socket (Go's `net.UDPConn`). Receives park the green thread until a datagram
/// arrives; on an OS thread they block the thread.
pub struct UdpSocket {
    source: Source, // dropped before `inner` (see `source.rs`)
    inner: net::UdpSocket,
}

impl UdpSocket {
    /// Binds to `addr`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| UdpSocket::from_std(net::UdpSocket::bind(a)?))
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
        self.inner.connect(&resolve(addr)?[..])
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
}

super::common::socket_common!(UdpSocket, net::UdpSocket);
super::common::socket_ttl!(UdpSocket);
super::common::datagram_io!(UdpSocket);
super::common::socket_timeouts!(UdpSocket);
