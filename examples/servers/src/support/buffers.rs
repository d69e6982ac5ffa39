//! Connection buffers lent per burst: a connection that waits for its next request holds
//! no read or write buffer, and takes them from its worker thread's pool only when bytes
//! have arrived (`TcpStream::readable`, then a read).
//!
//! Why: with one green thread per connection, a buffer that lives as long as the
//! connection is paid by every idle connection. A keep-alive HTTP client or a pooled
//! Redis client spends nearly all its life between requests, and 16 KiB of read buffer
//! plus a reply buffer was most of an idle connection's memory (tokio servers and Go's
//! 1 M-connection servers avoid it the same way: wait for readability, then borrow).
//!
//! # Invariants
//! 1. Every pooled buffer has capacity [`SIZE`] exactly; a buffer that grew past it (one
//!    large request or reply) is freed instead of pooled, so the pool never holds more
//!    than `KEPT * SIZE` bytes per worker thread.
//! 2. The pool is per OS thread and reached only through the two `#[inline(never)]`
//!    functions below. A green thread may take a buffer on one worker and give it back on
//!    another (it parks in between); each call finds its own thread's pool (docs ch.9: a
//!    thread-local's address must not be kept across a park).

use std::cell::RefCell;

/// The size of a lent buffer: Go's `bufio` size in the anchors.
pub(crate) const SIZE: usize = 16 * 1024;

/// Buffers kept per worker thread: enough for the connections one worker serves between
/// two parks (a burst of pipelined reads, one write each), not for every connection.
const KEPT: usize = 32;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of capacity [`SIZE`] from this thread's pool, or a new one. Its length is
/// whatever it was given back with (zero for a new one): a read buffer sets its own.
#[inline(never)]
pub(crate) fn take() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(SIZE))
}

/// An empty buffer of capacity [`SIZE`] (a reply buffer).
pub(crate) fn take_cleared() -> Vec<u8> {
    let mut b = take();
    b.clear();
    b
}

/// Gives `buf` back to this thread's pool (invariant 1: only a buffer of capacity
/// [`SIZE`], and only while the pool holds fewer than `KEPT`).
#[inline(never)]
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() != SIZE {
        return;
    }
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < KEPT {
            pool.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_a_grown_one_is_not_kept() {
        let mut b = take();
        assert_eq!(b.capacity(), SIZE);
        b.extend_from_slice(b"abc");
        let addr = b.as_ptr();
        give(b);
        let again = take();
        assert_eq!(again.as_ptr(), addr, "the pooled buffer is reused");
        let mut grown = again;
        grown.resize(SIZE + 1, 0);
        give(grown);
        assert_eq!(
            take().capacity(),
            SIZE,
            "a grown buffer was freed, not pooled"
        );
    }

    #[test]
    fn the_pool_keeps_at_most_kept_buffers() {
        let bufs: Vec<_> = (0..KEPT + 5).map(|_| take()).collect();
        bufs.into_iter().for_each(give);
        assert_eq!(POOL.with(|p| p.borrow().len()), KEPT);
    }
}
