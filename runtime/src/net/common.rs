//! What every goro socket type shares, generated once for each TCP, UDP and Unix socket
//! type: conversions from and to the std type, `SO_ERROR`, `IP_TTL` (IP only), the fd traits,
//! and (for streams and datagram sockets) read/write timeouts kept in the `Source`.

/// Conversions, `take_error` and the fd traits for a `{ source, inner }` socket.
macro_rules! socket_common {
    ($t:ident, $std:ty) => {
        impl $t {
            /// Wraps the std socket, switching it to non-blocking mode.
            pub fn from_std(inner: $std) -> std::io::Result<$t> {
                inner.set_nonblocking(true)?;
                Ok($t {
                    source: $crate::net::source::Source::new(),
                    inner,
                })
            }

            /// Unwraps into the std socket, back in blocking mode.
            pub fn into_std(self) -> std::io::Result<$std> {
                let $t { source, inner } = self;
                drop(source); // deregister before anything else happens to the fd
                inner.set_nonblocking(false)?;
                Ok(inner)
            }

            /// A new handle to the same socket (`dup`), with its own registration and
            /// timeouts.
            pub fn try_clone(&self) -> std::io::Result<$t> {
                $t::from_std(self.inner.try_clone()?)
            }

            /// Takes the socket's pending error (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.inner.take_error()
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl From<$t> for std::os::fd::OwnedFd {
            /// The descriptor, still in non-blocking mode.
            fn from(s: $t) -> std::os::fd::OwnedFd {
                let $t { source, inner } = s;
                drop(source);
                inner.into()
            }
        }

        impl TryFrom<$std> for $t {
            type Error = std::io::Error;
            fn try_from(s: $std) -> std::io::Result<$t> {
                $t::from_std(s)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}

/// Read and write timeouts, enforced by the netpoller wait (not `SO_RCVTIMEO`).
macro_rules! socket_timeouts {
    ($t:ident) => {
        impl $t {
            /// Limits how long a read waits; `None` waits forever. An expired read fails
            /// with `ErrorKind::WouldBlock`, as std's does on Unix. Zero is an error.
            pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.source.set_timeout($crate::net::source::Dir::Read, t)
            }

            /// Limits how long a write waits (see `set_read_timeout`).
            pub fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.source.set_timeout($crate::net::source::Dir::Write, t)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.source.timeout($crate::net::source::Dir::Read))
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.source.timeout($crate::net::source::Dir::Write))
            }
        }
    };
}

/// `send` and `recv` to and from the connected peer, for the datagram sockets.
macro_rules! datagram_io {
    ($t:ident) => {
        impl $t {
            /// Sends to the connected peer, parking while the socket cannot take it.
            pub fn send(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::os::fd::AsRawFd;
                self.source.io(
                    self.inner.as_raw_fd(),
                    $crate::net::source::Dir::Write,
                    || self.inner.send(buf),
                )
            }

            /// Receives from the connected peer, parking until a datagram arrives.
            pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::os::fd::AsRawFd;
                self.source.io(
                    self.inner.as_raw_fd(),
                    $crate::net::source::Dir::Read,
                    || self.inner.recv(buf),
                )
            }
        }
    };
}

/// `IP_TTL`, for the IP sockets.
macro_rules! socket_ttl {
    ($t:ident) => {
        impl $t {
            /// Sets `IP_TTL`.
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                self.inner.set_ttl(ttl)
            }
        }
    };
}

/// The error of an operation on a closed listener (Go's `net.ErrClosed`).
pub(crate) fn closed_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

/// `Read` and `Write` for a stream socket and for a shared reference to it, as std has
/// them: reads through `Source::read_stream` (the short-read skip), writes through
/// `Source::io`.
macro_rules! stream_io {
    ($t:ident) => {
        impl $t {
            fn read_with(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::Read;
                use std::os::fd::AsRawFd;
                let len = buf.len();
                self.source
                    .read_stream(self.inner.as_raw_fd(), len, || (&self.inner).read(buf))
            }

            fn read_vectored_with(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                use std::io::Read;
                use std::os::fd::AsRawFd;
                let len = bufs.iter().map(|b| b.len()).sum();
                self.source.read_stream(self.inner.as_raw_fd(), len, || {
                    (&self.inner).read_vectored(bufs)
                })
            }

            fn write_with(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::io::Write;
                use std::os::fd::AsRawFd;
                self.source
                    .io(self.inner.as_raw_fd(), $crate::net::source::Dir::Write, || {
                        (&self.inner).write(buf)
                    })
            }

            fn write_vectored_with(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                use std::io::Write;
                use std::os::fd::AsRawFd;
                self.source
                    .io(self.inner.as_raw_fd(), $crate::net::source::Dir::Write, || {
                        (&self.inner).write_vectored(bufs)
                    })
            }
        }

        $crate::net::common::stream_io!(@impls $t);
        $crate::net::common::stream_io!(@impls &$t);
    };
    (@impls $ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.read_with(buf)
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.read_vectored_with(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.write_with(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.write_vectored_with(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use {datagram_io, socket_common, socket_timeouts, socket_ttl, stream_io};
