//! Free lists of dead green threads, each still owning its stack (Go's `gfput`/`gfget`).
//!
//! A G whose coroutine returned, and that nobody else references, is recycled: its stack
//! (shrunk if it grew deep) stays mapped and the next spawn starts a new coroutine on it.
//! That keeps both `malloc` and `mmap` off the steady-state spawn path — and, just as
//! important, keeps a G allocated on one worker from being freed on another, which with
//! glibc's per-thread arenas turns every spawn into a contended arena lock.
//!
//! Per-processor lists need no lock. A spawning processor drains its list while a
//! finishing one fills its own, so lists exchange halves with the runtime-wide pool (one
//! lock per batch), as Go's stack cache refills from the global stack pool.
//!
//! # Invariants
//! 1. A G in a free list is dead (its `body` is `Dead(stack)`: no coroutine, the stack kept),
//!    registered, and referenced only by the list and the registry.
//! 2. The pool holds at most `POOL_MAX` Gs; beyond that they are discarded (removed from
//!    the registry and dropped, unmapping the stack).

use crate::lock::Mutex;

use super::registry::Registry;
use crate::g::GRef;

/// Per-processor list bound; past it half the list moves to the pool.
const LOCAL_MAX: usize = 64;
/// Pool bound (invariant 2).
const POOL_MAX: usize = 4096;

/// The runtime-wide pool.
#[derive(Debug, Default)]
pub(crate) struct GPool {
    free: Mutex<Vec<GRef>>,
}

impl GPool {
    /// One dead G, for a spawn from outside the runtime's workers.
    pub(crate) fn get(&self) -> Option<GRef> {
        self.free.lock().pop()
    }

    fn put_batch(&self, gs: impl Iterator<Item = GRef>, registry: &Registry) {
        let mut discard = Vec::new();
        {
            let mut free = self.free.lock();
            for g in gs {
                if free.len() < POOL_MAX {
                    free.push(g);
                } else {
                    discard.push(g);
                }
            }
        }
        for g in discard {
            drop(registry.remove(&g));
        }
    }

    /// Keeps one dead G, from a worker without a processor.
    pub(crate) fn put(&self, g: GRef, registry: &Registry) {
        self.put_batch(std::iter::once(g), registry);
    }

    /// Empties the pool (shutdown).
    pub(crate) fn clear(&self) {
        drop(std::mem::take(&mut *self.free.lock()));
    }
}

/// A processor's free list. Executed only by the worker that owns the processor.
#[derive(Debug, Default)]
pub(crate) struct LocalGPool {
    gs: Vec<GRef>,
}

impl LocalGPool {
    /// A dead G to restart: from this list, else a batch from the pool. `None`: allocate.
    pub(crate) fn get(&mut self, pool: &GPool) -> Option<GRef> {
        self.refill(pool);
        self.gs.pop()
    }

    /// True if [`get`](Self::get) would find a G (refilling from the pool if need be).
    pub(crate) fn has_one(&mut self, pool: &GPool) -> bool {
        self.refill(pool);
        !self.gs.is_empty()
    }

    /// An empty list takes a batch from the pool.
    fn refill(&mut self, pool: &GPool) {
        if self.gs.is_empty() {
            let mut free = pool.free.lock();
            let k = free.len().saturating_sub(LOCAL_MAX / 2);
            self.gs.extend(free.drain(k..));
        }
    }

    /// Keeps a dead G (invariant 1 holds for it) for the next spawn.
    pub(crate) fn put(&mut self, g: GRef, pool: &GPool, registry: &Registry) {
        self.gs.push(g);
        if self.gs.len() > LOCAL_MAX {
            let half = self.gs.len() / 2;
            pool.put_batch(self.gs.drain(..half), registry);
        }
    }

    /// Hands every G to the pool (worker exit).
    pub(crate) fn flush(&mut self, pool: &GPool, registry: &Registry) {
        pool.put_batch(self.gs.drain(..), registry);
    }
}
