//! A connection's read buffer: bytes arrive at the back, parsed requests leave from the
//! front, and the buffer grows only while one request is larger than it (up to a limit).
//!
//! Both servers parse in place from [`ReadBuf::data`] and call [`ReadBuf::consume`] for
//! what a whole request took, so a pipelined burst of small requests costs one `read`.
//! The memory itself is lent (`buffers.rs`): a connection with nothing buffered gives it
//! back ([`ReadBuf::release`]) and waits for its next request without one, and the next
//! [`ReadBuf::fill`] borrows a buffer again. A buffer that grew for one large request is
//! freed then instead: an idle connection holds no read buffer, whatever it once sent.

use std::io::{self, Read};

use goro::net::TcpStream;

use super::buffers;

/// The size of a borrowed buffer, and the size a grown one starts again from.
const INITIAL: usize = buffers::SIZE;

/// Arguments this large are handed over by [`ReadBuf::take_front`] without a copy.
const TAKE_WHOLE: usize = 64 * 1024;

/// Bytes read but not yet consumed are `buf[lo..hi]`; `buf` is empty while none is lent.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// The buffer never grows past this: a request that needs more is refused.
    limit: usize,
}

impl ReadBuf {
    /// An empty buffer that borrows 16 KiB (Go's `bufio` size in the anchors) at its first
    /// read and may grow to `limit`.
    pub(crate) fn new(limit: usize) -> ReadBuf {
        ReadBuf {
            buf: Vec::new(),
            lo: 0,
            hi: 0,
            limit,
        }
    }

    /// Borrows a buffer if none is lent (nothing is buffered then).
    fn borrow(&mut self) {
        if self.buf.is_empty() {
            self.buf = buffers::take_full();
        }
    }

    /// The bytes read and not yet consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    /// Bytes of memory the buffer holds.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Makes room for `n` unconsumed bytes in all (moving them to the front, growing the
    /// buffer up to its limit), so that a large request announced by its length is read
    /// into one allocation.
    pub(crate) fn reserve_total(&mut self, n: usize) {
        self.borrow();
        if self.buf.len() - self.lo >= n {
            return;
        }
        self.compact();
        if self.buf.len() < n {
            self.buf.resize(n.min(self.limit), 0);
        }
    }

    /// The first `n` unconsumed bytes as a vector of their own, and `skip` more bytes
    /// consumed. A large argument that fills the buffer's front is handed over without
    /// a copy (the buffer starts again at its initial size), as redis-server turns its
    /// query buffer into the argument: no second copy of a 15 MiB value, and no 15 MiB
    /// buffer freed per request for the allocator to keep.
    pub(crate) fn take_front(&mut self, n: usize, skip: usize) -> Vec<u8> {
        debug_assert!(n + skip <= self.hi - self.lo);
        if self.lo > 0 || n < TAKE_WHOLE {
            let v = self.buf[self.lo..self.lo + n].to_vec();
            self.consume(n + skip);
            return v;
        }
        let rest = &self.buf[n + skip..self.hi];
        let mut fresh = if rest.len() <= INITIAL {
            buffers::take_full()
        } else {
            vec![0; rest.len()]
        };
        fresh[..rest.len()].copy_from_slice(rest);
        let hi = rest.len();
        let mut taken = std::mem::replace(&mut self.buf, fresh);
        (self.lo, self.hi) = (0, hi);
        taken.truncate(n);
        taken
    }

    /// Gives the buffer back if it holds nothing now: to the pool at its initial size,
    /// to the allocator if it grew.
    pub(crate) fn release(&mut self) {
        if self.lo == self.hi && !self.buf.is_empty() {
            buffers::give(std::mem::take(&mut self.buf));
            (self.lo, self.hi) = (0, 0);
        }
    }

    fn compact(&mut self) {
        if self.lo > 0 {
            self.buf.copy_within(self.lo..self.hi, 0);
            (self.lo, self.hi) = (0, self.hi - self.lo);
        }
    }

    /// Drops the first `n` bytes of [`data`](Self::data).
    pub(crate) fn consume(&mut self, n: usize) {
        self.lo += n;
        debug_assert!(self.lo <= self.hi);
        if self.lo == self.hi {
            (self.lo, self.hi) = (0, 0);
        }
    }

    /// One `read` into the free end of the buffer; `Ok(0)` is the peer's EOF. Fails with
    /// `InvalidData` when the unconsumed bytes already fill `limit`.
    pub(crate) fn fill(&mut self, mut from: impl Read) -> io::Result<usize> {
        self.fill_with(|free| from.read(free))
    }

    /// One read from a connection. With nothing buffered it first waits for readability
    /// holding no buffer (`readable`), then borrows one for a `try_read`; a `WouldBlock`
    /// there (the readiness was stale) gives it back and waits again. Mid-request it keeps
    /// its buffer and reads with `read`. Errors are the socket's: `WouldBlock` is the
    /// stream's read timeout.
    pub(crate) fn fill_from(&mut self, stream: &TcpStream) -> io::Result<usize> {
        if !self.data().is_empty() {
            return self.fill(stream);
        }
        loop {
            stream.readable()?;
            match self.fill_with(|free| stream.try_read(free)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.release(),
                read => return read,
            }
        }
    }

    /// [`fill`](Self::fill) with `read` filling the free end.
    fn fill_with(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.borrow();
        if self.hi == self.buf.len() {
            self.make_room()?;
        }
        let n = read(&mut self.buf[self.hi..])?;
        self.hi += n;
        Ok(n)
    }

    fn make_room(&mut self) -> io::Result<()> {
        if self.lo > 0 {
            self.compact();
        } else if self.buf.len() >= self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too large",
            ));
        } else {
            self.buf.resize((self.buf.len() * 2).min(self.limit), 0);
        }
        Ok(())
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            buffers::give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_buffer_lends_nothing_and_borrows_at_its_first_read() {
        let mut b = ReadBuf::new(1 << 20);
        assert_eq!(b.capacity(), 0, "a new connection holds no buffer");
        assert_eq!(b.fill(&b"PING\r\n"[..]).unwrap(), 6);
        assert_eq!(b.capacity(), INITIAL);
        assert_eq!(b.data(), b"PING\r\n");
        b.release();
        assert_eq!(b.capacity(), INITIAL, "unconsumed bytes keep the buffer");
        b.consume(6);
        b.release();
        assert_eq!(b.capacity(), 0, "an emptied buffer goes back");
        assert_eq!(b.fill(&b"x"[..]).unwrap(), 1);
        assert_eq!(b.data(), b"x", "a borrowed buffer starts clean");
    }

    #[test]
    fn a_grown_buffer_is_freed_at_release_and_the_next_read_borrows_the_initial_size() {
        let mut b = ReadBuf::new(1 << 20);
        let big = vec![7u8; 3 * INITIAL];
        let mut from = &big[..];
        while !from.is_empty() {
            let n = b.fill(&mut from).unwrap();
            assert!(n > 0);
        }
        assert_eq!(b.data().len(), big.len());
        assert!(b.capacity() > INITIAL);
        b.consume(big.len());
        b.release();
        assert_eq!(b.capacity(), 0);
        b.fill(&b"y"[..]).unwrap();
        assert_eq!(b.capacity(), INITIAL);
    }

    #[test]
    fn a_buffer_at_its_limit_refuses_more() {
        let mut b = ReadBuf::new(INITIAL);
        let full = vec![1u8; INITIAL];
        assert_eq!(b.fill(&full[..]).unwrap(), INITIAL);
        let err = b.fill(&b"z"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
