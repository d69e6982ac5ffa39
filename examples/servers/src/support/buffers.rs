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
//!    than `2 * KEPT * SIZE` bytes (1 MiB) per worker thread.
//! 2. A pooled read buffer (`full`) has length [`SIZE`], all of it initialized; a pooled
//!    reply buffer (`empty`) has length 0.
//! 3. The pool is per OS thread and reached only through the `#[inline(never)]`
//!    functions below. A green thread may take a buffer on one worker and give it back on
//!    another (it parks in between); each call finds its own thread's pool (docs ch.9: a
//!    thread-local's address must not be kept across a park).

use std::cell::RefCell;

/// The size of a lent buffer: Go's `bufio` size in the anchors.
pub(crate) const SIZE: usize = 16 * 1024;

/// Buffers kept per worker thread and kind: enough for the connections one worker serves
/// between two parks (a burst of pipelined reads, one write each), not for every
/// connection.
const KEPT: usize = 32;

/// One worker thread's buffers: read buffers at their full length (initialized, so a read
/// buffer taken again needs no zeroing), and empty reply buffers.
struct Pool {
    full: Vec<Vec<u8>>,
    empty: Vec<Vec<u8>>,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            full: Vec::new(),
            empty: Vec::new(),
        })
    };
}

/// A read buffer: [`SIZE`] initialized bytes, from this thread's pool or new.
#[inline(never)]
pub(crate) fn take_full() -> Vec<u8> {
    let pooled = POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.full.pop().or_else(|| p.empty.pop())
    });
    let mut b = pooled.unwrap_or_default();
    b.resize(SIZE, 0); // a no-op for a pooled read buffer
    b
}

/// An empty reply buffer of capacity [`SIZE`], from this thread's pool or new.
#[inline(never)]
pub(crate) fn take_cleared() -> Vec<u8> {
    let pooled = POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.empty.pop().or_else(|| p.full.pop())
    });
    let mut b = pooled.unwrap_or_else(|| Vec::with_capacity(SIZE));
    b.clear();
    b
}

/// Gives `buf` back to this thread's pool: a buffer of capacity [`SIZE`] only (invariant
/// 1), as a read buffer if it is full length, else emptied, each kind up to `KEPT`.
#[inline(never)]
pub(crate) fn give(mut buf: Vec<u8>) {
    if buf.capacity() != SIZE {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let list = if buf.len() == SIZE {
            &mut p.full
        } else {
            buf.clear();
            &mut p.empty
        };
        if list.len() < KEPT {
            list.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_a_grown_one_is_not_kept() {
        let read = take_full();
        assert_eq!((read.len(), read.capacity()), (SIZE, SIZE));
        let addr = read.as_ptr();
        give(read);
        let again = take_full();
        assert_eq!(again.as_ptr(), addr, "the pooled read buffer is reused");
        let mut grown = again;
        grown.resize(SIZE + 1, 0);
        give(grown);
        assert_eq!(
            take_full().capacity(),
            SIZE,
            "a grown buffer was freed, not pooled"
        );
    }

    #[test]
    fn reply_buffers_come_back_empty_and_read_buffers_full() {
        let mut out = take_cleared();
        out.extend_from_slice(b"+OK\r\n");
        give(out);
        assert!(take_cleared().is_empty());
        let mut out = take_cleared();
        out.extend_from_slice(b"x");
        give(out);
        assert_eq!(
            take_full().len(),
            SIZE,
            "an emptied reply buffer serves as a read buffer"
        );
    }

    #[test]
    fn the_pool_keeps_at_most_kept_buffers_of_each_kind() {
        let bufs: Vec<_> = (0..KEPT + 5).map(|_| take_full()).collect();
        let outs: Vec<_> = (0..KEPT + 5).map(|_| take_cleared()).collect();
        bufs.into_iter().for_each(give);
        outs.into_iter().for_each(give);
        POOL.with(|p| {
            let p = p.borrow();
            assert_eq!((p.full.len(), p.empty.len()), (KEPT, KEPT));
        });
    }
}
