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
//! Past the pool's bound a dead G is *retired*, not freed on the spot: its worker only
//! moves it to a list, and sysmon frees retired Gs in batches (`reap`) once the exits have
//! stopped piling up, as Go frees the stacks of dead goroutines at the next GC rather than
//! when they exit. A burst of 100 000 exits then costs the exiting workers a push each
//! instead of a `free` of the G (often into another thread's malloc arena, under its
//! lock), a trip through the stack arena's lock and the registry's, and the shrink check's
//! page fault on each fresh stack. The price is memory returned later: retired Gs keep
//! their stacks until the burst ends (or `RETIRED_HIGH_WATER` is passed), and there are
//! never more of them than green threads were alive at the peak, whose memory was resident
//! then anyway.
//!
//! # Invariants
//! 1. A G in a free list is dead (its `body` is `Dead(stack)`: no coroutine, the stack
//!    kept), registered, and referenced only by the list and the registry; its stack was
//!    shrunk on the way in (`put`'s `shrink`).
//! 2. The pool holds at most `POOL_MAX` Gs; beyond that they are retired. `len` mirrors the
//!    pool's length (written under its lock), so a worker can see without the lock that a
//!    G would only be retired, and retire it without shrinking a stack nobody keeps.
//! 3. A retired G is dead, registered, and referenced only by a retired list and the
//!    registry; reaping removes it from the registry and drops it (its stack goes back to
//!    the arena). Shutdown drops whatever is still retired.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::lock::Mutex;

use super::registry::Registry;
use crate::g::GRef;

/// Per-processor list bound; past it half the list moves to the pool.
const LOCAL_MAX: usize = 64;
/// Pool bound (invariant 2).
const POOL_MAX: usize = 4096;
/// Retired Gs a processor collects before handing them to the pool's retired list.
const RETIRE_BATCH: usize = 64;
/// Retired Gs past which sysmon frees them even while exits go on.
const RETIRED_HIGH_WATER: usize = 256 * 1024;
/// Retired Gs sysmon frees per tick (at least; whole batches).
const REAP_BATCH: usize = 1024;

/// The runtime-wide pool.
#[derive(Debug, Default)]
pub(crate) struct GPool {
    free: Mutex<Vec<GRef>>,
    /// `free.len()`, for a look without the lock (invariant 2).
    len: AtomicUsize,
    /// Dead Gs waiting for sysmon to free them (invariant 3), in the batches they were
    /// retired in: moving a batch in is one push, never a copy of the whole list (a
    /// burst of 100 000 exits would otherwise regrow one vector of them again and again).
    retired: Mutex<Vec<Vec<GRef>>>,
    /// Gs in `retired`.
    retired_len: AtomicUsize,
    /// `retired_len` at sysmon's previous look (to see whether a burst of exits goes on).
    retired_seen: AtomicUsize,
}

impl GPool {
    /// One dead G, for a spawn from outside the runtime's workers.
    pub(crate) fn get(&self) -> Option<GRef> {
        let mut free = self.free.lock();
        let g = free.pop();
        self.len.store(free.len(), Ordering::Relaxed);
        g
    }

    /// Gs in the runtime-wide pool now (the processors' lists not counted).
    pub(crate) fn pooled(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Gs waiting for sysmon to free them (the processors' partial batches not counted).
    pub(crate) fn retired(&self) -> usize {
        self.retired_len.load(Ordering::Relaxed)
    }

    /// True if the pool is full: a G put now would be retired.
    fn is_full(&self) -> bool {
        self.len.load(Ordering::Relaxed) >= POOL_MAX
    }

    /// Keeps the Gs the pool has room for (already shrunk) and retires the rest.
    fn put_batch(&self, gs: impl Iterator<Item = GRef>) {
        let mut over = Vec::new();
        {
            let mut free = self.free.lock();
            for g in gs {
                if free.len() < POOL_MAX {
                    free.push(g);
                } else {
                    over.push(g);
                }
            }
            self.len.store(free.len(), Ordering::Relaxed);
        }
        self.retire(&mut over);
    }

    /// Hands dead Gs to sysmon to free (invariant 3), leaving `gs` empty.
    fn retire(&self, gs: &mut Vec<GRef>) {
        if !gs.is_empty() {
            let batch = std::mem::take(gs);
            let n = batch.len();
            self.retired.lock().push(batch);
            self.retired_len.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Keeps one dead G, from a worker without a processor (`shrink` prepares it).
    pub(crate) fn put(&self, g: GRef, shrink: impl FnOnce(&GRef)) {
        if self.is_full() {
            return self.retire(&mut vec![g]);
        }
        shrink(&g);
        self.put_batch(std::iter::once(g));
    }

    /// sysmon: frees a batch of retired Gs. True if any were left to free.
    pub(crate) fn reap(&self, registry: &Registry) -> bool {
        let now = self.retired_len.load(Ordering::Relaxed);
        let seen = self.retired_seen.swap(now, Ordering::Relaxed);
        if now == 0 {
            return false;
        }
        if now > seen && now < RETIRED_HIGH_WATER {
            // Exits go on: freeing now would contend with them for the malloc arenas the
            // Gs came from; wait for the burst to end (sysmon keeps ticking fast).
            return true;
        }
        let mut reaped = 0;
        while reaped < REAP_BATCH {
            let Some(batch) = self.retired.lock().pop() else {
                break;
            };
            reaped += batch.len();
            self.retired_len.fetch_sub(batch.len(), Ordering::Relaxed);
            for g in batch {
                drop(registry.remove(&g));
            }
        }
        reaped > 0
    }

    /// Empties the pool and the retired list (shutdown).
    pub(crate) fn clear(&self) {
        let gs = {
            let mut free = self.free.lock();
            self.len.store(0, Ordering::Relaxed);
            std::mem::take(&mut *free)
        };
        drop(gs);
        let retired = std::mem::take(&mut *self.retired.lock());
        self.retired_len.store(0, Ordering::Relaxed);
        drop(retired);
    }
}

/// A processor's free list. Executed only by the worker that owns the processor.
#[derive(Debug, Default)]
pub(crate) struct LocalGPool {
    gs: Vec<GRef>,
    /// Retired Gs not yet handed to the pool (a batch at a time).
    retired: Vec<GRef>,
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
        if self.gs.is_empty() && pool.len.load(Ordering::Relaxed) > 0 {
            let mut free = pool.free.lock();
            let k = free.len().saturating_sub(LOCAL_MAX / 2);
            self.gs.extend(free.drain(k..));
            pool.len.store(free.len(), Ordering::Relaxed);
        }
    }

    /// Keeps a dead G (invariant 1 holds for it once `shrink` prepared it) for the next
    /// spawn; retires it instead when neither this list nor the pool has room.
    pub(crate) fn put(&mut self, g: GRef, pool: &GPool, shrink: impl FnOnce(&GRef)) {
        if self.gs.len() >= LOCAL_MAX && pool.is_full() {
            if self.retired.capacity() == 0 {
                self.retired.reserve_exact(RETIRE_BATCH); // one allocation per batch
            }
            self.retired.push(g); // invariant 2
            if self.retired.len() >= RETIRE_BATCH {
                pool.retire(&mut self.retired);
            }
            return;
        }
        shrink(&g);
        self.gs.push(g);
        if self.gs.len() > LOCAL_MAX {
            let half = self.gs.len() / 2;
            pool.put_batch(self.gs.drain(..half));
        }
    }

    /// Hands the retired Gs collected so far to the pool for sysmon (a worker about to
    /// sleep: a partial batch would otherwise wait for the next burst).
    pub(crate) fn flush_retired(&mut self, pool: &GPool) {
        pool.retire(&mut self.retired);
    }

    /// Hands every G to the pool (worker exit).
    pub(crate) fn flush(&mut self, pool: &GPool) {
        pool.put_batch(self.gs.drain(..));
        pool.retire(&mut self.retired);
    }
}
