//! Unix domain sockets with `std::os::unix::net`'s shapes, parking the green thread on the
//! netpoller (Go's `net.UnixListener`, `net.UnixConn` with "unix" and "unixgram").

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;

use super::source::{Dir, Source};

/// A Unix stream server socket. `accept` parks the green thread until a connection
/// arrives; [`close`](Self::close) wakes it, as for [`TcpListener`](super::TcpListener).
///
/// ```
/// use std::io::{Read, Write};
/// let path = std::env::temp_dir().join(format!("goro-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// goro_runtime::run(move || {
///     let ln = goro_runtime::net::UnixListener::bind(&path).unwrap();
///     let server = goro_runtime::go(move || {
///         let (mut s, _) = ln.accept().unwrap();
///         let mut buf = [0; 4];
///         s.read_exact(&mut buf).unwrap();
///         s.write_all(&buf).unwrap();
///     });
///     let mut c = goro_runtime::net::UnixStream::connect(&path).unwrap();
///     c.write_all(b"ping").unwrap();
///     let mut back = [0; 4];
///     c.read_exact(&mut back).unwrap();
///     assert_eq!(&back, b"ping");
///     server.join().unwrap();
///     std::fs::remove_file(&path).unwrap();
/// });
/// ```
pub struct UnixListener {
    source: Source, // dropped before `inner` (see `source.rs`)
    inner: net::UnixListener,
}

/// A Unix stream connection; `Read` and `Write` for it and for `&UnixStream`.
pub struct UnixStream {
    source: Source,
    inner: net::UnixStream,
}

/// A Unix datagram socket.
pub struct UnixDatagram {
    source: Source,
    inner: net::UnixDatagram,
}

impl UnixListener {
    /// Binds to the socket file `path` and listens, with the backlog
    /// [`TcpListener::bind`](super::TcpListener::bind) uses.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        super::ListenConfig::new().listen_unix(path)
    }

    /// Accepts a connection, parking until one arrives. After [`close`](Self::close) it
    /// fails with `ErrorKind::NotConnected` (Go's `net.ErrClosed`).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self
            .source
            .accept(self.inner.as_raw_fd(), || self.inner.accept())?;
        Ok((UnixStream::from_std(s)?, addr))
    }

    /// Closes the listener under any green thread parked in `accept` (see
    /// [`TcpListener::close`](super::TcpListener::close)).
    pub fn close(&self) {
        self.source.close(self.inner.as_raw_fd());
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<UnixStream>> + '_ {
        std::iter::repeat_with(move || self.accept().map(|(s, _)| s))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl UnixStream {
    /// Connects to the socket file `path`. A Unix connect completes at once or fails
    /// (`ECONNREFUSED`, `ENOENT`); only a listener with a full backlog makes it wait, and
    /// then it waits on the OS thread, like std's.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::from_std(net::UnixStream::connect(path)?)
    }

    /// A connected pair (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read, write, or both halves.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
}

impl UnixDatagram {
    /// Binds to the socket file `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Sets the default peer for `send`/`recv`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.connect(path)
    }

    /// Sends a datagram to `path`, parking while the receiver's queue is full.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.source.io(self.inner.as_raw_fd(), Dir::Write, || {
            self.inner.send_to(buf, path)
        })
    }

    /// Receives a datagram, parking until one arrives.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.io(self.inner.as_raw_fd(), Dir::Read, || {
            self.inner.recv_from(buf)
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read, write, or both halves.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
}

super::common::socket_common!(UnixListener, net::UnixListener);
super::common::socket_common!(UnixStream, net::UnixStream);
super::common::socket_common!(UnixDatagram, net::UnixDatagram);
super::common::socket_timeouts!(UnixStream);
super::common::socket_timeouts!(UnixDatagram);
super::common::stream_io!(UnixStream);
super::common::datagram_io!(UnixDatagram);
