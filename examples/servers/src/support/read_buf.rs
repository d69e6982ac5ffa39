//! A connection's read buffer: bytes arrive at the back, parsed requests leave from the
//! front, and the buffer grows only while one request is larger than it (up to a limit).
//!
//! Both servers parse in place from [`ReadBuf::data`] and call [`ReadBuf::consume`] for
//! what a whole request took, so a pipelined burst of small requests costs one `read`.
//! A buffer that grew for one large request goes back to its initial size once that
//! request is consumed ([`ReadBuf::shrink`]): an idle connection holds 16 KiB, whatever
//! it once sent.

use std::io::{self, Read};

/// The initial size, and the size a grown buffer shrinks back to.
const INITIAL: usize = 16 * 1024;

/// Arguments this large are handed over by [`ReadBuf::take_front`] without a copy.
const TAKE_WHOLE: usize = 64 * 1024;

/// Bytes read but not yet consumed are `buf[lo..hi]`.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// The buffer never grows past this: a request that needs more is refused.
    limit: usize,
}

impl ReadBuf {
    /// A 16 KiB buffer (Go's `bufio` size in the anchors) that may grow to `limit`.
    pub(crate) fn new(limit: usize) -> ReadBuf {
        ReadBuf {
            buf: vec![0; INITIAL],
            lo: 0,
            hi: 0,
            limit,
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
        let mut fresh = vec![0; rest.len().max(INITIAL)];
        fresh[..rest.len()].copy_from_slice(rest);
        let hi = rest.len();
        let mut taken = std::mem::replace(&mut self.buf, fresh);
        (self.lo, self.hi) = (0, hi);
        taken.truncate(n);
        taken
    }

    /// Back to the initial size if the buffer grew and holds nothing now.
    pub(crate) fn shrink(&mut self) {
        if self.lo == self.hi && self.buf.len() > INITIAL {
            self.buf = vec![0; INITIAL];
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
        if self.hi == self.buf.len() {
            self.make_room()?;
        }
        let n = from.read(&mut self.buf[self.hi..])?;
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
