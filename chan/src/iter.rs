//! Iterators over a `Receiver` (Go's `for v := range ch`).

use crate::channel::Receiver;

/// Blocking iterator; ends when the channel is closed and drained.
#[derive(Debug)]
pub struct Iter<'a, T> {
    pub(crate) rx: &'a Receiver<T>,
}

/// Non-blocking iterator; ends at the first `try_recv` that fails.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    pub(crate) rx: &'a Receiver<T>,
}

/// Owning blocking iterator.
#[derive(Debug)]
pub struct IntoIter<T> {
    pub(crate) rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}
