//! A processor (Go's `P`): a local run queue, the `runnext` slot, a stack cache, G-id
//! batches and a random number generator.
//!
//! Executed only by the worker that owns this processor, except the queue's stealing end
//! and `runnext`, which other workers reach through `Sched::remotes`. Which worker that is
//! can change: sysmon hands the processor of a worker stuck in a green thread to another
//! (`handoff.rs`), and the ownership protocol there orders the two owners' accesses.

use std::cell::{Cell, RefCell};

use crossbeam_deque::{Steal, Worker as LocalQueue};

use crossbeam_utils::CachePadded;

use super::gpool::LocalGPool;
use super::handoff::Ownership;
use super::{Remote, Sched};
use crate::g::GRef;

/// Local queue bound (Go: 256). Past it, half moves to the global queue.
pub(crate) const LOCAL_CAP: usize = 256;
/// Every this many rounds, the global queue goes first (Go and tokio: 61).
const GLOBAL_INTERVAL: u32 = 61;
/// Rounds `runnext` may win in a row before the local queue gets a turn.
const RUNNEXT_STREAK: u32 = 16;
/// `spin_loop` hints a thief waits before taking a victim's `runnext` (≈ 3 µs).
const RUNNEXT_PAUSE_SPINS: u32 = 1000;
/// Queued green threads past which a spawn that finds no recycled G yields first.
const SPAWN_BACKLOG: usize = LOCAL_CAP / 2;
/// G ids handed to a processor at a time (Go's `_GoidCacheBatch`).
const ID_BATCH: u64 = 16;

#[derive(Debug)]
pub(crate) struct Processor {
    pub(crate) index: usize,
    /// Who owns the processor, and whether its owner is inside a green thread
    /// (`handoff.rs`); sysmon reads it. On a line of its own: the owner writes `in_g` on
    /// every switch.
    pub(crate) ownership: CachePadded<Ownership>,
    local: LocalQueue<GRef>,
    free: RefCell<LocalGPool>,
    rng: Cell<u64>,
    /// A synctest bubble's processor: the stream (xorshift64, never 0 once seeded) that
    /// sends readied green threads to the front or the back of the queue (`ready_next`),
    /// so seeds explore run orders. 0 outside a bubble. A stream of its own, apart from
    /// `rng`: an idle worker draws victims from `rng` as many times as it happens to spin
    /// before the first green thread arrives, so `rng`'s draws are not replayable.
    order_rng: Cell<u64>,
    tick: Cell<u32>,
    streak: Cell<u32>,
    ids: Cell<(u64, u64)>,
}

// SAFETY: the owner-only fields (`local`, `free`, the `Cell`s; `ownership` is atomic) are
// touched only by the processor's owner, one worker at a time, and a handoff orders the
// old owner's accesses before the new owner's (`handoff.rs`, invariants 1 and 4). `local`
// (a crossbeam `Worker`) is `Send`; only its owner uses it, other workers its `Stealer`.
unsafe impl Sync for Processor {}

impl Processor {
    /// Processor `index`, owned by the worker with `token`.
    pub(crate) fn new(index: usize, local: LocalQueue<GRef>, token: usize) -> Processor {
        Processor {
            index,
            ownership: CachePadded::new(Ownership::new(token)),
            local,
            free: RefCell::new(LocalGPool::default()),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
            order_rng: Cell::new(0),
            tick: Cell::new(0),
            streak: Cell::new(0),
            ids: Cell::new((0, 0)),
        }
    }

    /// Makes this processor a synctest bubble's: its random choices (`rand`, the run
    /// order in `ready_next`) come from `seed`. Called before its worker starts.
    pub(crate) fn seed_bubble(&self, seed: u64) {
        self.rng.set(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        self.order_rng
            .set(seed.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1);
    }

    /// The bubble's coin for `ready_next`: true sends the G to the back of the queue.
    /// Only called with `order_rng` seeded (non-zero); xorshift64 keeps it non-zero.
    fn order_coin(&self) -> bool {
        let mut x = self.order_rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.order_rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 63 == 0
    }

    /// xorshift64*: cheap, good enough for victim choice and select's poll order.
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn next_id(&self, sched: &Sched) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = sched.reserve_ids(ID_BATCH);
            end = next + ID_BATCH;
        }
        self.ids.set((next + 1, end));
        next
    }

    /// A dead G to restart, if this processor (or the pool) has one.
    pub(crate) fn get_dead_g(&self, sched: &Sched) -> Option<GRef> {
        self.free.borrow_mut().get(&sched.gpool)
    }

    /// True if a spawn here would have to map a fresh stack while this processor already
    /// queues at least `SPAWN_BACKLOG` green threads (see `spawn::try_go`).
    pub(crate) fn spawn_should_yield(&self, sched: &Sched) -> bool {
        !self.free.borrow_mut().has_one(&sched.gpool) && self.local.len() >= SPAWN_BACKLOG
    }

    /// Keeps a dead G for the next spawn.
    pub(crate) fn put_dead_g(&self, g: GRef, sched: &Sched, shrink: impl FnOnce(&GRef)) {
        self.free.borrow_mut().put(g, &sched.gpool, shrink);
    }

    /// The worker is about to sleep: retired Gs go to sysmon now (`gpool.rs`).
    pub(crate) fn flush_retired(&self, sched: &Sched) {
        self.free.borrow_mut().flush_retired(&sched.gpool);
    }

    /// Puts a readied G in `runnext`; a G it displaces goes to the local queue, where
    /// another worker could take it, so that case may wake one — unless `share` is false
    /// (a netpoll batch, whose poller decides once, after the batch: `worker.rs`).
    pub(crate) fn ready_next(&self, g: GRef, sched: &Sched, share: bool) {
        if self.order_rng.get() != 0 && self.order_coin() {
            // A bubble's seed sends it to the back instead: which of the green threads
            // readied together runs first is the seed's choice (`synctest.rs`).
            self.push_local(g, sched);
            return;
        }
        if let Some(old) = sched.remotes[self.index].runnext.put(g) {
            self.push_local(old, sched);
            if share {
                sched.wake_idle_worker();
            }
        }
    }

    /// Green threads in the local queue (not counting `runnext`).
    pub(crate) fn queued(&self) -> usize {
        self.local.len()
    }

    /// Queues `g` at the tail of the local queue; overflow moves the older half to the
    /// global queue (Go's `runqputslow`). True if it overflowed.
    pub(crate) fn push_local(&self, g: GRef, sched: &Sched) -> bool {
        let overflow = self.local.len() >= LOCAL_CAP;
        if overflow {
            for _ in 0..LOCAL_CAP / 2 {
                match self.local.pop() {
                    Some(old) => sched.injector.push(old),
                    None => break,
                }
            }
        }
        self.local.push(g);
        overflow
    }

    /// True if `runnext` or the local queue holds a G.
    pub(crate) fn has_work(&self, sched: &Sched) -> bool {
        !self.local.is_empty() || !sched.remotes[self.index].runnext.is_empty()
    }

    /// Makes the next [`next`](Self::next) look at the global queue first: a worker that
    /// just took this processor over from a stuck one serves what waited there (green
    /// threads readied by sysmon's timer backstop, other threads) before the local queue,
    /// which may hold more green threads that will block.
    pub(crate) fn global_first(&self) {
        let tick = self.tick.get();
        self.tick
            .set(tick - tick % GLOBAL_INTERVAL + GLOBAL_INTERVAL - 1);
    }

    /// The next G from this processor or the global queue (not stealing).
    pub(crate) fn next(&self, sched: &Sched) -> Option<GRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % GLOBAL_INTERVAL == 0 {
            if let Some(g) = steal_retry(|| sched.injector.steal()) {
                return Some(g);
            }
        }
        let runnext = &sched.remotes[self.index].runnext;
        if self.streak.get() < RUNNEXT_STREAK {
            if let Some(g) = runnext.take() {
                self.streak.set(self.streak.get() + 1);
                return Some(g);
            }
        }
        self.streak.set(0);
        if let Some(g) = self.local.pop().or_else(|| runnext.take()) {
            return Some(g);
        }
        self.pull_global(sched)
    }

    /// A batch from the global queue: a fair share, at most half a local queue.
    fn pull_global(&self, sched: &Sched) -> Option<GRef> {
        if sched.injector.is_empty() {
            return None;
        }
        let share = sched.injector.len() / sched.num_processors() + 1;
        let limit = share.min(LOCAL_CAP / 2);
        steal_retry(|| {
            sched
                .injector
                .steal_batch_with_limit_and_pop(&self.local, limit)
        })
    }

    /// Steals half of a random victim's queue (Go's `runqsteal`), then tries the global
    /// queue. Executed while searching.
    #[doc(alias = "runqsteal")]
    pub(crate) fn steal(&self, sched: &Sched) -> Option<GRef> {
        let n = sched.num_processors();
        for _ in 0..2 {
            let mut retry = false;
            let start = (self.rand() % n as u64) as usize;
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                let stealer = &sched.remotes[victim].stealer;
                match stealer.steal_batch_with_limit_and_pop(&self.local, LOCAL_CAP / 2) {
                    Steal::Success(g) => {
                        Remote::bump(&sched.remotes[self.index].steals);
                        if crate::diag::trace::on() {
                            let steal = crate::diag::trace::Kind::Steal;
                            crate::diag::trace::record(steal, 0, self.index as u64);
                        }
                        return Some(g);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if let Some(g) = self.pull_global(sched) {
                return Some(g);
            }
            if !retry {
                break;
            }
        }
        None
    }

    /// Steals a victim's `runnext` G if it stayed there across a short pause: its worker
    /// is busy with something long (Go: `usleep(3)` in `runqgrab`).
    pub(crate) fn steal_runnext(&self, sched: &Sched) -> Option<GRef> {
        let n = sched.num_processors();
        let start = (self.rand() % n as u64) as usize;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let slot = &sched.remotes[victim].runnext;
            let seen = slot.peek();
            if seen.is_null() {
                continue;
            }
            // ~3 µs without a clock read per iteration (Go: usleep(3)).
            for _ in 0..RUNNEXT_PAUSE_SPINS {
                std::hint::spin_loop();
            }
            if let Some(g) = slot.steal_if(seen) {
                Remote::bump(&sched.remotes[self.index].steals);
                if crate::diag::trace::on() {
                    let steal = crate::diag::trace::Kind::Steal;
                    crate::diag::trace::record(steal, 0, self.index as u64);
                }
                return Some(g);
            }
        }
        None
    }

    /// Worker exit: drop queued references and hand dead Gs to the pool.
    pub(crate) fn shutdown(&self, sched: &Sched) {
        while self.local.pop().is_some() {}
        self.free.borrow_mut().flush(&sched.gpool);
    }
}

fn steal_retry(mut f: impl FnMut() -> Steal<GRef>) -> Option<GRef> {
    loop {
        match f() {
            Steal::Success(g) => return Some(g),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}
