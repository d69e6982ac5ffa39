//! `Source`: what every goro socket adds to its std socket — a lazy netpoller
//! registration, per-direction timeouts, and the would-block loop.
//!
//! Sockets are always in non-blocking mode. An operation that gets `EWOULDBLOCK` waits
//! for readiness and retries:
//! * in a green thread it parks on the socket's poll descriptor (registered with the
//!   runtime's netpoller on first need, edge-triggered, once);
//! * on a plain OS thread it blocks the thread in `poll(2)`.
//!
//! # Invariants
//! 1. The registration, once made, lives as long as the socket and is dropped (deregistered)
//!    before the fd is closed: the socket types declare `source` before the std socket.
//! 2. At most one green thread waits per direction (the poll slot's invariant): waiters of
//!    the same direction queue on `read_lock`/`write_lock` first. The I/O itself is not
//!    serialized — only the waiting.
//! 3. `read_drained` is a hint, never a promise: it only lets a stream read or
//!    `readable` park *before* any syscall (see [`Source::read_stream`]); a wrong value
//!    costs one syscall or one trip through the poll slot, never a lost wake-up. A short
//!    read sets it, and so does a `try_read` that found nothing; a read-side wait that
//!    does not drain what it saw (a peek, `readable`) clears it ([`Source::peeked`]): it
//!    may have consumed the READY of data still queued.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::sys;
use crate::netpoll::{Registration, WaitEnd};
use crate::sync::Mutex;

/// Direction of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

const NO_TIMEOUT: u64 = 0;

#[derive(Debug, Default)]
pub(crate) struct Source {
    reg: OnceLock<Registration>,
    registering: Mutex<()>,
    read_lock: Mutex<()>,
    write_lock: Mutex<()>,
    /// The last stream read returned less than asked: the receive queue was empty then
    /// (invariant 3).
    read_drained: AtomicBool,
    /// Timeouts in nanoseconds, `NO_TIMEOUT` for none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    /// Set by a listener's `close`: every operation from then on fails (Go's
    /// `net.ErrClosed`). The fd itself stays open until the socket is dropped.
    closed: AtomicBool,
    /// A TCP listener's keep-alive period for the connections it accepts, in seconds
    /// (`ListenConfig::keep_alive`); 0: leave the kernel's default.
    accepted_keep_alive: AtomicU64,
}

impl Source {
    pub(crate) fn new() -> Source {
        Source::default()
    }

    /// A listener's keep-alive period for accepted connections (`None`: kernel default).
    pub(crate) fn set_accepted_keep_alive(&self, period: Option<Duration>) {
        let secs = period.map_or(0, |p| p.as_secs().max(1));
        self.accepted_keep_alive.store(secs, Ordering::Relaxed);
    }

    /// See [`set_accepted_keep_alive`](Self::set_accepted_keep_alive).
    pub(crate) fn accepted_keep_alive(&self) -> Option<Duration> {
        match self.accepted_keep_alive.load(Ordering::Relaxed) {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        }
    }

    /// A listener's `close`: marks the socket closed, `shutdown(2)`s it so the kernel
    /// stops queueing connections, and wakes any green thread waiting on it, which then
    /// sees [`is_closed`](Self::is_closed). The fd stays open until the socket is dropped.
    pub(crate) fn close(&self, fd: RawFd) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: `shutdown` on the caller's open descriptor (it stays open until drop).
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        if let Some(reg) = self.reg.get() {
            reg.desc.read.notify();
            reg.desc.write.notify();
        }
    }

    /// The `hook` feature's `close`: removes the fd from the poller while it is still
    /// open, and wakes whoever waits on it (they see the descriptor closed).
    #[cfg(feature = "hook")]
    pub(crate) fn detach(&self) {
        if let Some(reg) = self.reg.get() {
            reg.deregister();
            reg.desc.read.notify();
            reg.desc.write.notify();
        }
    }

    /// A listener's `accept`: `op` until it does not would-block, failing with Go's
    /// `net.ErrClosed` once the listener is closed.
    pub(crate) fn accept<R>(
        &self,
        fd: RawFd,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io(fd, Dir::Read, || {
            if self.is_closed() {
                return Err(super::common::closed_error());
            }
            op()
        })
    }

    /// True once [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Runs `op` until it does not report `WouldBlock`, waiting for readiness in between.
    /// A timeout set for `dir` ends the wait with `WouldBlock` (std's kind for an expired
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO` on Unix).
    pub(crate) fn io<R>(
        &self,
        fd: RawFd,
        dir: Dir,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_from(fd, dir, false, op)
    }

    /// [`io`](Self::io), optionally waiting for readiness before the first attempt; one
    /// deadline covers every wait.
    fn io_from<R>(
        &self,
        fd: RawFd,
        dir: Dir,
        mut wait_first: bool,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = None;
        let mut first = true;
        loop {
            if !std::mem::take(&mut wait_first) {
                match attempt(&mut op) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    r => return r,
                }
            }
            if first {
                first = false;
                deadline = self.deadline(dir);
            }
            if !self.wait(fd, dir, deadline)? {
                return Err(timed_out());
            }
        }
    }

    /// When a wait for `dir` starting now times out (its timeout, if one is set).
    fn deadline(&self, dir: Dir) -> Option<Instant> {
        self.timeout(dir)
            .and_then(|t| Instant::now().checked_add(t))
    }

    /// A stream (TCP) read of up to `len` bytes: [`io`](Self::io), except that after a
    /// short read it waits for readiness *first* (tokio's `clear_readiness` on a short
    /// read). A request/response connection otherwise pays one `EAGAIN` read per message.
    ///
    /// Why no wake-up is lost: a short read drained the receive queue, and every byte that
    /// arrives later raises a fresh edge that the poller turns into READY on the slot. A
    /// READY consumed since then was consumed by a party that read right after. So when the
    /// socket is drained and the slot is not READY, data present now still has its edge on
    /// the way, and parking on the slot is safe. The exception is end of stream: data and
    /// FIN can arrive under one edge, the short read returns the data, and the FIN raises
    /// no further edge — so once an event reported the read side closed (`read_closed`,
    /// sticky) the skip is off. Only in a green thread with a registration; plain threads
    /// use level-triggered `poll(2)`, where the skip buys nothing.
    pub(crate) fn read_stream(
        &self,
        fd: RawFd,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let wait_first = len > 0
            && self.read_drained.load(Ordering::Relaxed)
            && self.reg.get().is_some_and(|reg| {
                // After `take_read_ready`: a READY consumed earlier published `read_closed`.
                crate::park::in_green_thread() && !reg.take_read_ready() && !reg.read_closed()
            });
        let r = self.io_from(fd, Dir::Read, wait_first, op);
        let drained = matches!(r, Ok(n) if n > 0 && n < len);
        self.read_drained.store(drained, Ordering::Relaxed);
        r
    }

    /// Waits until a stream read would find data, end of stream or an error, reading
    /// nothing (`TcpStream::readable`). After a short read or a `WouldBlock` from
    /// [`try_read_stream`](Self::try_read_stream) (`read_drained`) it makes no syscall: an
    /// edge already on the slot answers at once, else it parks for the next one, by
    /// [`read_stream`](Self::read_stream)'s argument. A connection that waits here between
    /// requests pays what a read that parks pays. Otherwise it peeks (one byte; `peek` is
    /// the socket's `MSG_PEEK` receive), parking while that would block. Either way the
    /// next read tries before it waits (invariant 3). The answer can be stale (an edge for
    /// data already read, or data another reader took): a read after it then waits, and
    /// `try_read` says `WouldBlock`.
    pub(crate) fn readable(
        &self,
        fd: RawFd,
        peek: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<()> {
        let drained = if self.read_drained.load(Ordering::Relaxed) && crate::park::in_green_thread()
        {
            // Registered now if it never waited: an edge-triggered registration reports
            // data already queued, so nothing that came since the drain is missed.
            Some(self.registration(fd)?)
        } else {
            None
        };
        let r = match drained {
            // An edge since the drain (or end of stream): readable, no syscall. It may be
            // the edge of data the draining read already took; `try_read` then says
            // `WouldBlock` and the caller waits again.
            Some(reg) if reg.take_read_ready() || reg.read_closed() => Ok(()),
            Some(_) => match self.wait(fd, Dir::Read, self.deadline(Dir::Read)) {
                Ok(true) => Ok(()),
                Ok(false) => Err(timed_out()),
                Err(e) => Err(e),
            },
            None => self.io(fd, Dir::Read, peek).map(drop),
        };
        self.peeked();
        r
    }

    /// One stream read attempt that never waits (`TcpStream::try_read`): `WouldBlock` if
    /// nothing is queued. A short read or `WouldBlock` marks the stream drained, so that
    /// the next `readable` or read parks before its syscall (invariant 3: a READY that
    /// came since is still on the slot and ends that wait at once).
    pub(crate) fn try_read_stream(
        &self,
        len: usize,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let r = attempt(&mut op);
        let drained = match &r {
            Ok(n) => *n > 0 && *n < len,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        self.read_drained.store(drained, Ordering::Relaxed);
        r
    }

    /// A peek saw data (or end of stream) without consuming it, possibly consuming the
    /// READY that announced it: the next stream read must try before it waits
    /// (invariant 3).
    pub(crate) fn peeked(&self) {
        self.read_drained.store(false, Ordering::Relaxed);
    }

    /// Waits until `fd` may be ready for `dir`. `Ok(false)` if `deadline` passed first.
    pub(crate) fn wait(&self, fd: RawFd, dir: Dir, deadline: Option<Instant>) -> io::Result<bool> {
        if !crate::park::in_green_thread() {
            let events = match dir {
                Dir::Read => libc::POLLIN,
                Dir::Write => libc::POLLOUT,
            };
            return sys::poll_fd(fd, events, deadline);
        }
        let reg = self.registration(fd)?;
        let lock = match dir {
            Dir::Read => &self.read_lock,
            Dir::Write => &self.write_lock,
        };
        let _turn = lock.lock(); // invariant 2
        let w = match dir {
            Dir::Read => reg.wait_read(deadline),
            Dir::Write => reg.wait_write(deadline),
        };
        Ok(w == WaitEnd::Ready)
    }

    fn registration(&self, fd: RawFd) -> io::Result<&Registration> {
        if let Some(r) = self.reg.get() {
            return Ok(r);
        }
        let poller = crate::driver::current_poller()
            .ok_or_else(|| io::Error::other("goro: no runtime on this worker"))?;
        // One registration per socket: a reader and a writer may race to make it.
        let _once = self.registering.lock();
        if let Some(r) = self.reg.get() {
            return Ok(r);
        }
        let reg = poller.register(fd)?;
        Ok(self.reg.get_or_init(|| reg))
    }

    pub(crate) fn set_timeout(&self, dir: Dir, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let nanos = t.map_or(NO_TIMEOUT, |d| {
            d.as_nanos().clamp(1, u64::MAX as u128) as u64
        });
        self.slot(dir).store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Dir) -> Option<Duration> {
        match self.slot(dir).load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn slot(&self, dir: Dir) -> &AtomicU64 {
        match dir {
            Dir::Read => &self.read_timeout,
            Dir::Write => &self.write_timeout,
        }
    }
}

/// One attempt at a non-blocking operation, repeated while a signal interrupts it. It runs
/// past the `hook` feature's hooks: the socket is non-blocking already.
fn attempt<R>(op: &mut impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        #[cfg(feature = "hook")]
        let r = crate::hook::bypass(&mut *op);
        #[cfg(not(feature = "hook"))]
        let r = op();
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// std's error for an expired `SO_RCVTIMEO`/`SO_SNDTIMEO` on Unix.
fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "operation timed out (read/write timeout)",
    )
}
