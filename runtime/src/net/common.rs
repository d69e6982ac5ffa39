//! What every goro socket type shares, generated once for `TcpListener`, `TcpStream` and
//! `UdpSocket`: conversions from and to the std type, `SO_ERROR`, `IP_TTL`, the fd traits,
//! and (for streams and datagram sockets) read/write timeouts kept in the `Source`.

/// Conversions, `set_ttl`, `take_error` and the fd traits for a `{ source, inner }` socket.
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

            /// Sets `IP_TTL`.
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                self.inner.set_ttl(ttl)
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

pub(crate) use {socket_common, socket_timeouts};
