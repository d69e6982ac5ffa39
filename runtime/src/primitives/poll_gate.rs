//! The poll gate: who may poll right now, and when a deregistered descriptor may be freed.
//!
//! ```text
//!   deregister:  EPOLL_CTL_DEL ──▶ release(epoll's reference) ──▶ queue
//!   poller:      enter ──▶ drop the queue ──▶ epoll_wait ──▶ handle events ──▶ leave
//!                └───────────── one thread at a time (the gate) ─────────────┘
//! ```
//!
//! An epoll event names its descriptor by pointer (see the netpoller's invariant 2). A
//! descriptor must stay alive until no poll can still hand out an event for it. A poll
//! that can is one whose `epoll_wait` began before the `EPOLL_CTL_DEL`. The gate makes that
//! poll finish before the reference is dropped:
//!
//! # Invariants
//! 1. At most one [`Turn`] exists at a time (`polling` is a try-lock, Acquire CAS on entry,
//!    Release store on exit), so turns are totally ordered and each sees everything its
//!    predecessors did.
//! 2. A released item is dropped only at the start of a turn, before that turn waits for
//!    events.
//! 3. A caller releases an item only after removing it from the kernel's interest list.
//!
//! Together: if a turn's `epoll_wait` can return an event for an item, that wait began
//! before the item's removal, so before its release. The turn drained the queue before
//! its wait, so the item was not in the queue yet (invariant 2). It can only be dropped by
//! a later turn, and a later turn begins after this one ended (invariant 1). The loom model
//! below checks this with the kernel's interest list modelled as a locked set.
//!
//! # Lock order
//! `released` is a leaf; items are dropped after it is unlocked.

use crate::loom::{AtomicBool, Mutex, Ordering};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Gate<T> {
    polling: AtomicBool,
    released: Mutex<Vec<T>>,
    /// Set after a push, cleared by the drain: lets turns skip the lock when nothing waits.
    /// A stale `false` only delays a drop to a later turn.
    has_released: AtomicBool,
}

/// The right to poll, held from before `epoll_wait` until every event is handled.
#[derive(Debug)]
pub(crate) struct Turn<'a, T> {
    gate: &'a Gate<T>,
}

impl<T> Gate<T> {
    pub(crate) fn new() -> Gate<T> {
        Gate {
            polling: AtomicBool::new(false),
            released: Mutex::new(Vec::new()),
            has_released: AtomicBool::new(false),
        }
    }

    /// Takes the turn, or `None` if another thread has it. Drops every item released so far
    /// (invariant 2) before returning.
    pub(crate) fn enter(&self) -> Option<Turn<'_, T>> {
        // A CAS rather than a swap: the same on x86, and loom models it faithfully (its
        // swap lets a concurrent store land inside the RMW, tokio-rs/loom#254).
        if self
            .polling
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        self.drop_released();
        Some(Turn { gate: self })
    }

    /// True while some thread holds the turn.
    pub(crate) fn is_polling(&self) -> bool {
        self.polling.load(Ordering::Relaxed)
    }

    /// Queues `item` to be dropped by the next turn. The caller has already removed what it
    /// stands for from the kernel's interest list (invariant 3).
    pub(crate) fn release(&self, item: T) {
        let mut released = self.released.lock();
        released.push(item);
        self.has_released.store(true, Ordering::Release);
    }

    fn drop_released(&self) {
        if !self.has_released.load(Ordering::Acquire) {
            return;
        }
        let batch = {
            let mut released = self.released.lock();
            self.has_released.store(false, Ordering::Relaxed);
            std::mem::take(&mut *released)
        };
        drop(batch);
    }
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        self.gate.polling.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_turn_at_a_time_and_released_items_drop_at_the_next_turn() {
        let gate = Gate::new();
        let item = Arc::new(());
        let turn = gate.enter().expect("free");
        assert!(gate.is_polling());
        assert!(gate.enter().is_none(), "taken");
        gate.release(item.clone());
        drop(turn);
        assert_eq!(Arc::strong_count(&item), 2, "kept until the next turn");
        drop(gate.enter().expect("free again"));
        assert_eq!(Arc::strong_count(&item), 1);
        assert!(!gate.is_polling());
    }
}

/// loom model of the gate (run with `RUSTFLAGS="--cfg loom"`, see `.ci/run`). The kernel's
/// interest list is a locked set; `epoll_wait` snapshots it; handling an event asserts
/// that the descriptor is still alive.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool as Flag;
    use loom::sync::{Arc, Mutex as KMutex};
    use loom::thread;

    struct Desc {
        alive: Flag,
    }

    /// epoll's reference: dropping it "frees" the descriptor.
    struct EpollRef(Arc<Desc>);

    impl Drop for EpollRef {
        fn drop(&mut self) {
            self.0.alive.store(false, Ordering::SeqCst);
        }
    }

    struct World {
        gate: Gate<EpollRef>,
        interest: KMutex<Vec<Arc<Desc>>>,
    }

    fn poll_once(w: &World) {
        if let Some(turn) = w.gate.enter() {
            let events: Vec<Arc<Desc>> = w.interest.lock().unwrap().clone(); // epoll_wait
            for d in &events {
                assert!(
                    d.alive.load(Ordering::SeqCst),
                    "event for a freed descriptor"
                );
            }
            drop(turn);
        }
    }

    /// Two pollers race a deregistration: no event is handled after its descriptor was
    /// freed, and the descriptor is freed by the first turn after everything settles.
    #[test]
    fn loom_poll_gate_frees_a_descriptor_only_after_every_poll_that_could_see_it() {
        loom::model(|| {
            let desc = Arc::new(Desc {
                alive: Flag::new(true),
            });
            let w = Arc::new(World {
                gate: Gate::new(),
                interest: KMutex::new(vec![desc.clone()]),
            });
            let pollers: Vec<_> = (0..2)
                .map(|_| {
                    let w = w.clone();
                    thread::spawn(move || poll_once(&w))
                })
                .collect();
            // Deregister: EPOLL_CTL_DEL, then release epoll's reference (invariant 3).
            w.interest.lock().unwrap().clear();
            w.gate.release(EpollRef(desc.clone()));
            for p in pollers {
                p.join().unwrap();
            }
            poll_once(&w);
            assert!(!desc.alive.load(Ordering::SeqCst), "freed by the last turn");
        });
    }
}
