//! A connection's read buffer: bytes arrive at the back, parsed requests leave from the
//! front, and the buffer grows only while one request is larger than it (up to a limit).
//!
//! Both servers parse in place from [`ReadBuf::data`] and call [`ReadBuf::consume`] for
//! what a whole request took, so a pipelined burst of small requests costs one `read`.

use std::io::{self, Read};

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
            buf: vec![0; 16 * 1024],
            lo: 0,
            hi: 0,
            limit,
        }
    }

    /// The bytes read and not yet consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
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
            self.buf.copy_within(self.lo..self.hi, 0);
            (self.lo, self.hi) = (0, self.hi - self.lo);
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
