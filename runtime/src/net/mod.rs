//! `goro::net`: TCP, UDP and Unix domain sockets with std's shapes, written in blocking style, parking only
//! the green thread (Go's `net` package on the netpoller).
//!
//! Every socket is non-blocking underneath. When an operation would block, a green
//! thread parks on the runtime's netpoller (`netpoll/`) and its worker runs other green
//! threads; a plain OS thread blocks in `poll(2)`. So the same `TcpStream` works in both,
//! and a server holds one green thread per connection at a few KiB each.
//!
//! Errors are std's: `EMFILE` from `accept` is an `io::Error` the server can log before
//! accepting again; a reset peer gives `ConnectionReset`; an expired read timeout gives
//! `WouldBlock` (as std on Unix).
//!
//! [`wait_readable`]/[`wait_writable`] wait for readiness of any file descriptor.

mod common;
mod listen;
mod resolve;
pub(crate) mod source;
mod sys;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

pub use listen::ListenConfig;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

use source::{Dir, Source};

/// Parks until `fd` is readable (or `timeout` passes: `ErrorKind::TimedOut`). On an OS
/// thread it blocks the thread. `fd` should be in non-blocking mode if you then read it
/// in a green thread; the fd must not be registered with the runtime already (i.e. must
/// not be a goro socket).
pub fn wait_readable(fd: &impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd, Dir::Read, timeout)
}

/// Parks until `fd` is writable (see [`wait_readable`]).
pub fn wait_writable(fd: &impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd, Dir::Write, timeout)
}

fn wait_fd(fd: &impl AsFd, dir: Dir, timeout: Option<Duration>) -> io::Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let source = Source::new(); // a temporary registration, removed on return
    if source.wait(raw, dir, deadline)? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "fd not ready before the timeout",
        ))
    }
}
