//! One budget for the bytes all connections of a server buffer (redis-server's
//! `maxmemory-clients`): each connection charges what its buffers hold now, and the one
//! whose growth would take the total past the limit is refused — it gets an error and is
//! closed — while the server and every other connection go on. Per-connection limits
//! alone do not bound a server: 10 000 connections of 2 MiB each are 20 GB.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The limit and what is charged against it now.
#[derive(Debug)]
pub(crate) struct Budget {
    max: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Budget {
        Budget {
            max,
            used: AtomicUsize::new(0),
        }
    }

    /// Bytes charged now, all connections together.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One connection's share of a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge<'a> {
    budget: &'a Budget,
    bytes: usize,
}

impl<'a> Charge<'a> {
    pub(crate) fn new(budget: &'a Budget) -> Charge<'a> {
        Charge { budget, bytes: 0 }
    }

    /// Charges `bytes` for this connection now; false if that grows it past the budget
    /// (shrinking always succeeds).
    pub(crate) fn set(&mut self, bytes: usize) -> bool {
        let (old, used) = (self.bytes, &self.budget.used);
        self.bytes = bytes;
        if bytes <= old {
            used.fetch_sub(old - bytes, Ordering::Relaxed);
            return true;
        }
        let total = used.fetch_add(bytes - old, Ordering::Relaxed) + (bytes - old);
        total <= self.budget.max
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_that_passes_the_limit_is_refused_and_shrinking_gives_back() {
        let budget = Budget::new(100);
        let mut a = Charge::new(&budget);
        let mut b = Charge::new(&budget);
        assert!(a.set(60));
        assert!(!b.set(50), "60 + 50 passes 100");
        assert!(b.set(10));
        assert!(a.set(90));
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 10);
    }
}
