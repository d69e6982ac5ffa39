//! The channel's buffer: a fixed-capacity ring of `MaybeUninit<T>` (Go's `buf`, `sendx`,
//! `recvx`, `qcount`). Accessed only under the channel lock.
//!
//! # Invariants
//! Slots `head, head+1, …, head+len-1` (mod `cap`) are initialised; all others are not.

use std::mem::MaybeUninit;

pub(crate) struct Ring<T> {
    buf: Box<[MaybeUninit<T>]>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    /// A ring of `cap` slots. Panics with a message naming `cap` if it cannot be
    /// allocated (like `Vec`), instead of aborting deep inside the allocator.
    pub(crate) fn new(cap: usize) -> Ring<T> {
        let mut v: Vec<MaybeUninit<T>> = Vec::new();
        if let Err(e) = v.try_reserve_exact(cap) {
            panic!(
                "goro: cannot allocate a channel buffer of capacity {cap} ({} bytes per element): {e}",
                std::mem::size_of::<T>()
            );
        }
        // SAFETY: `MaybeUninit` needs no initialisation; the capacity was reserved above.
        unsafe { v.set_len(cap) };
        Ring {
            buf: v.into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Appends at the tail. The caller checked `!is_full()`.
    pub(crate) fn push(&mut self, v: T) {
        debug_assert!(!self.is_full());
        let i = (self.head + self.len) % self.buf.len();
        self.buf[i].write(v);
        self.len += 1;
    }

    /// Puts `v` back at the head (a value an async receiver was given and dropped: it
    /// comes out first again), growing the ring by one slot if it is full — the only way
    /// it grows (`hchan.rs`, invariant 5).
    pub(crate) fn push_front_growing(&mut self, v: T) {
        if self.is_full() {
            self.grow();
        }
        self.head = (self.head + self.buf.len() - 1) % self.buf.len();
        self.buf[self.head].write(v);
        self.len += 1;
    }

    /// One more slot, the values moved in order to the front of the new buffer.
    #[cold]
    fn grow(&mut self) {
        let mut bigger = Ring::new(self.buf.len() + 1);
        while let Some(v) = self.pop() {
            bigger.push(v);
        }
        *self = bigger;
    }

    /// Takes the head, if any.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: slot `head` is initialised (invariant) and is marked uninitialised below
        // by advancing `head`, so it is read exactly once.
        let v = unsafe { self.buf[self.head].assume_init_read() };
        self.head = (self.head + 1) % self.buf.len();
        self.len -= 1;
        Some(v)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn fifo_with_wraparound() {
        let mut r = Ring::new(3);
        for round in 0..10 {
            r.push(round * 10);
            r.push(round * 10 + 1);
            assert_eq!(r.pop(), Some(round * 10));
            assert_eq!(r.pop(), Some(round * 10 + 1));
        }
        assert_eq!(r.pop(), None);
        r.push(1);
        r.push(2);
        r.push(3);
        assert!(r.is_full());
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn push_front_comes_out_first_and_grows_a_full_ring() {
        let mut r = Ring::new(3);
        r.push(2);
        r.push_front_growing(1);
        r.push(3);
        assert!(r.is_full());
        r.push_front_growing(0); // grows to 4 slots
        assert_eq!(r.len(), 4);
        let got: Vec<_> = std::iter::from_fn(|| r.pop()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        let mut unbuffered = Ring::new(0);
        unbuffered.push_front_growing(9);
        assert_eq!(unbuffered.pop(), Some(9));
    }

    #[test]
    fn drops_what_is_left() {
        let x = Rc::new(());
        let mut r = Ring::new(4);
        for _ in 0..3 {
            r.push(x.clone());
        }
        r.pop();
        assert_eq!(Rc::strong_count(&x), 3);
        drop(r);
        assert_eq!(Rc::strong_count(&x), 1);
    }

    #[test]
    #[should_panic(expected = "capacity 18446744073709551615")]
    fn huge_capacity_is_a_clear_panic() {
        let _ = Ring::<u64>::new(usize::MAX);
    }
}
