//! Every G struct of a runtime, live or dead (Go's `allgs`): what shutdown unwinds.
//!
//! The registry holds a strong reference to each G, so a G parked on something that
//! nobody will ever signal stays alive (as a leaked goroutine does in Go) until the runtime
//! drops and unwinds it, running its destructors. Because G structs are recycled through
//! free lists, the registry is touched only when a G struct is created or discarded, not
//! on every spawn: the hot path takes no lock here.
//!
//! Sharded by address; each shard is a slab (O(1) insert and remove by the slot index
//! kept in the G).
//!
//! # Invariants
//! 1. A G struct is in the registry from creation until it is discarded (free list
//!    overflow, or still referenced elsewhere when it died). Live Gs are never discarded.
//! 2. `G::registry_slot` is written only under its shard's lock.
//!
//! # Lock order
//! Shard locks are leaves; at most one is held at a time.

use crate::lock::Mutex;
use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::g::GRef;

const SHARDS: usize = 32;

#[derive(Debug, Default)]
struct Shard {
    slots: Vec<Option<GRef>>,
    free: Vec<u32>,
}

#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::default()))
                .collect(),
        }
    }

    fn shard(&self, g: &GRef) -> std::sync::MutexGuard<'_, Shard> {
        // By address: a G keeps its registry entry across incarnations (ids change).
        let h = (GRef::as_ptr(g) as usize >> 8) % SHARDS;
        self.shards[h].lock()
    }

    pub(crate) fn insert(&self, g: GRef) {
        let mut s = self.shard(&g);
        let idx = match s.free.pop() {
            Some(i) => i,
            None => {
                s.slots.push(None);
                u32::try_from(s.slots.len() - 1).expect("goro: registry shard overflow")
            }
        };
        g.registry_slot.store(idx, Ordering::Relaxed);
        s.slots[idx as usize] = Some(g);
    }

    /// Removes a dead G being discarded. Returns the registry's reference.
    pub(crate) fn remove(&self, g: &GRef) -> Option<GRef> {
        let mut s = self.shard(g);
        let idx = g.registry_slot.load(Ordering::Relaxed);
        let slot = s.slots.get_mut(idx as usize)?;
        match slot {
            Some(x) if GRef::ptr_eq(x, g) => {}
            _ => return None,
        }
        let out = slot.take();
        s.free.push(idx);
        out
    }

    /// A copy of every registered G (live or dead), for `dump`: one shard lock at a time.
    pub(crate) fn snapshot(&self) -> Vec<GRef> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let s = s.lock();
            out.extend(s.slots.iter().flatten().cloned());
        }
        out
    }

    /// Scans up to `budget` slots from `cursor` (shard, slot) on, one shard lock at a
    /// time, and returns references to the Gs `pick` selects; moves the cursor. True when
    /// the scan wrapped around (a whole pass is done). For sysmon's stack compaction: only
    /// the picked Gs gain a reference, so the others stay poolable when they die.
    pub(crate) fn scan(
        &self,
        cursor: &mut (usize, usize),
        budget: usize,
        mut pick: impl FnMut(&GRef) -> bool,
    ) -> (Vec<GRef>, bool) {
        let mut out = Vec::new();
        let mut left = budget;
        while left > 0 {
            let (shard, from) = *cursor;
            let s = self.shards[shard].lock();
            let to = s.slots.len().min(from + left);
            for g in s.slots.get(from..to).unwrap_or(&[]).iter().flatten() {
                if pick(g) {
                    out.push(g.clone());
                }
            }
            left -= to.saturating_sub(from).max(1); // `to <= from + left`, `left >= 1`
            if to >= s.slots.len() {
                *cursor = ((shard + 1) % SHARDS, 0);
                if shard + 1 == SHARDS {
                    return (out, true);
                }
            } else {
                *cursor = (shard, to);
            }
        }
        (out, false)
    }

    /// Removes and returns every G (shutdown).
    pub(crate) fn drain(&self) -> Vec<GRef> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            let mut s = s.lock();
            out.extend(s.slots.drain(..).flatten());
            s.free.clear();
        }
        out
    }
}
