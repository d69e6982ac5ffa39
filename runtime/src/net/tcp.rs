//! `TcpListener` and `TcpStream`: std::net's shapes, parking the green thread on the
//! netpoller instead of blocking the worker (Go's `net.TCPListener`/`net.TCPConn`).

use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use super::resolve::each_addr;
use super::source::{Dir, Source};
use super::sys;

/// A TCP server socket (Go's `net.Listen("tcp", ..)`). `accept` parks the green thread
/// until a connection arrives; on an OS thread it blocks the thread.
///
/// ```no_run
/// use std::io::{Read, Write};
/// goro_runtime::run(|| {
///     let listener = goro_runtime::net::TcpListener::bind("127.0.0.1:8080").unwrap();
///     for stream in listener.incoming() {
///         let mut stream = stream.unwrap();
///         goro_runtime::go(move || {
///             let mut buf = [0; 1024];
///             while let Ok(n @ 1..) = stream.read(&mut buf) {
///                 stream.write_all(&buf[..n]).unwrap();
///             }
///         });
///     }
/// });
/// ```
pub struct TcpListener {
    source: Source, // invariant 1 of `source.rs`: dropped before `inner`
    inner: net::TcpListener,
}

/// A TCP connection (Go's `net.TCPConn`). `Read` and `Write` are implemented for
/// `TcpStream` and `&TcpStream`, as in std.
pub struct TcpStream {
    source: Source, // dropped before `inner`
    inner: net::TcpStream,
}

/// Iterator over a listener's connections ([`TcpListener::incoming`]); never `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) and listens, with Go's
    /// backlog: `net.core.somaxconn` (std's `bind` uses 128, which a burst of connects
    /// overflows).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        super::ListenConfig::new().listen_tcp(addr)
    }

    /// Keep-alive for the connections this listener accepts (`ListenConfig::keep_alive`).
    pub(crate) fn set_accepted_keep_alive(&self, period: Option<Duration>) {
        self.source.set_accepted_keep_alive(period);
    }

    /// Accepts a connection, parking until one arrives. Errors such as `EMFILE` (too many
    /// open files) are returned to the caller; the listener stays usable. After
    /// [`close`](Self::close) it fails with [`ErrorKind::NotConnected`](io::ErrorKind).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self
            .source
            .accept(self.inner.as_raw_fd(), || self.inner.accept())?;
        if let Some(period) = self.source.accepted_keep_alive() {
            super::listen::set_keep_alive(s.as_raw_fd(), Some(period))?;
        }
        Ok((TcpStream::from_std(s)?, addr))
    }

    /// Closes the listener while other green threads may be using it (Go's `ln.Close()`):
    /// a green thread parked in [`accept`](Self::accept) wakes, and this and every later
    /// `accept` fails with `ErrorKind::NotConnected` ("use of closed network connection",
    /// Go's `net.ErrClosed`). The kernel stops queueing connections at once
    /// (`shutdown(2)`); the descriptor itself is released when the listener is dropped,
    /// so its number cannot be reused by another socket while any operation can still
    /// reach it through this listener. Closing twice does nothing.
    ///
    /// ```
    /// goro_runtime::run(|| {
    ///     let ln = std::sync::Arc::new(goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap());
    ///     let l = ln.clone();
    ///     let acceptor = goro_runtime::go(move || l.accept().map(|_| ()));
    ///     goro_runtime::sleep(std::time::Duration::from_millis(10)); // parked in accept
    ///     ln.close();
    ///     let err = acceptor.join().unwrap().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    /// });
    /// ```
    pub fn close(&self) {
        self.source.close(self.inner.as_raw_fd());
    }

    /// An endless iterator of accepted connections (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each of its addresses in turn; parks (or blocks, on an
    /// OS thread) while the handshake is in progress.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_addr(a, None))
    }

    /// Connects to one address, giving up after `timeout` (`TimedOut`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Instant::now().checked_add(timeout))
    }

    fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let fd = sys::socket(addr, libc::SOCK_STREAM)?;
        let connected = sys::start_connect(&fd, addr)?;
        // SAFETY: `fd` is an owned, open TCP socket; ownership moves into the std type.
        let inner = unsafe { net::TcpStream::from_raw_fd(fd.into_raw_fd()) };
        let stream = TcpStream {
            source: Source::new(),
            inner,
        };
        if !connected {
            let raw = stream.inner.as_raw_fd();
            if !stream.source.wait(raw, Dir::Write, deadline)? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ));
            }
            if let Some(e) = sys::take_error(raw)? {
                return Err(e);
            }
            // A spurious writability hint: confirm we are connected.
            stream.inner.peer_addr()?;
        }
        Ok(stream)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read, write, or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm; Go sets it by default).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// TCP keep-alive: probes after `period` of silence, every `period` (Go's
    /// `SetKeepAlive` + `SetKeepAlivePeriod`); `None` turns it off.
    pub fn set_keepalive(&self, period: Option<Duration>) -> io::Result<()> {
        super::listen::set_keep_alive(self.inner.as_raw_fd(), period)
    }

    /// The keep-alive period, if keep-alive is on.
    pub fn keepalive(&self) -> io::Result<Option<Duration>> {
        super::listen::keep_alive(self.inner.as_raw_fd())
    }

    /// Connects to `addr`, trying each of its addresses in turn, all within `timeout`
    /// (Go's `net.DialTimeout`; host names are resolved inside `goro::blocking`, and the
    /// resolution counts against the timeout only as far as it delays the connects).
    pub fn connect_timeout_to<A: ToSocketAddrs>(
        addr: A,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let deadline = Instant::now().checked_add(timeout);
        each_addr(addr, |a| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ));
            }
            TcpStream::connect_addr(a, deadline)
        })
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Reads without consuming (parks until data or EOF).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self
            .source
            .io(self.inner.as_raw_fd(), Dir::Read, || self.inner.peek(buf));
        self.source.peeked();
        r
    }

    /// Parks until the stream is readable — data has arrived, the peer closed, or an
    /// error is pending — without reading anything (tokio's `TcpStream::readable`; the
    /// readable-wait golang/go#15735 asked Go for). A connection that is idle most of the
    /// time can wait here with no read buffer on its stack and take one only when there
    /// is something to read: the echo example's idle connection costs one stack page
    /// instead of two. A read timeout set on the stream bounds the wait
    /// (`ErrorKind::WouldBlock`, as for `read`). After a read that drained the socket it
    /// parks without a syscall and returns on the poller's edge, so waiting here costs
    /// what parking in `read` costs. Another reader of the same socket may take the data
    /// in between; the read that follows then waits, as a read does.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// goro_runtime::run(|| {
    ///     let ln = goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = ln.local_addr().unwrap();
    ///     goro_runtime::go(move || {
    ///         let mut c = goro_runtime::net::TcpStream::connect(addr).unwrap();
    ///         c.write_all(b"hi").unwrap();
    ///     });
    ///     let (mut s, _) = ln.accept().unwrap();
    ///     s.readable().unwrap(); // parked until the bytes came
    ///     let mut buf = vec![0; 16]; // taken only now
    ///     let n = s.read(&mut buf).unwrap();
    ///     assert_eq!(&buf[..n], b"hi");
    /// });
    /// ```
    pub fn readable(&self) -> io::Result<()> {
        let fd = self.inner.as_raw_fd();
        self.source.readable(fd, || self.inner.peek(&mut [0u8; 1]))
    }

    /// Reads what is queued without waiting: `ErrorKind::WouldBlock` if nothing is
    /// (tokio's `try_read`). With [`readable`](Self::readable) it makes the loop of a
    /// server whose idle connections hold no buffer: wait, borrow a buffer, try; on
    /// `WouldBlock` (the readiness was stale) give the buffer back and wait again.
    ///
    /// ```
    /// use std::io::{ErrorKind, Write};
    /// goro_runtime::run(|| {
    ///     let ln = goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut c = goro_runtime::net::TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     let (s, _) = ln.accept().unwrap();
    ///     let mut buf = [0u8; 16];
    ///     assert_eq!(s.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    ///     c.write_all(b"hi").unwrap();
    ///     let n = loop {
    ///         s.readable().unwrap();
    ///         match s.try_read(&mut buf) {
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
    ///             r => break r.unwrap(),
    ///         }
    ///     };
    ///     assert_eq!(&buf[..n], b"hi");
    /// });
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        let len = buf.len();
        self.source.try_read_stream(len, || (&self.inner).read(buf))
    }
}

super::common::socket_common!(TcpListener, net::TcpListener);
super::common::socket_common!(TcpStream, net::TcpStream);
super::common::socket_ttl!(TcpListener);
super::common::socket_ttl!(TcpStream);
super::common::stream_io!(TcpStream);
super::common::socket_timeouts!(TcpStream);
