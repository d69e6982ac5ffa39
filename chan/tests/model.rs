//! Property tests: random sequences of non-blocking channel operations against a
//! sequential model (a `VecDeque` plus a closed flag), for every capacity including the
//! unbuffered rendezvous. Every value is tracked: at the end each one was received,
//! handed back in an error, or dropped with the channel — none vanished, none twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use goro_chan::{bounded, TryRecvError, TrySendError};
use proptest::prelude::*;

mod common;

/// A value that counts its drops.
#[derive(Debug)]
struct Tracked(u32, Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone)]
enum Op {
    TrySend(u32),
    TryRecv,
    CloseFromSender,
    CloseFromReceiver,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::TrySend),
        4 => Just(Op::TryRecv),
        1 => Just(Op::CloseFromSender),
        1 => Just(Op::CloseFromReceiver),
        2 => Just(Op::Len),
    ]
}

/// Runs `ops` on a real channel and on the model, then checks no value was lost.
fn check(cap: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Tracked>(cap);
    let mut model: VecDeque<u32> = VecDeque::new();
    let mut closed = false;
    let mut created = 0usize;
    for op in ops {
        match op {
            Op::TrySend(v) => {
                created += 1;
                let r = tx.try_send(Tracked(*v, drops.clone()));
                if closed {
                    let back = matches!(&r, Err(TrySendError::Closed(t)) if t.0 == *v);
                    prop_assert!(back, "send after close must hand the value back");
                } else if model.len() < cap {
                    prop_assert!(r.is_ok());
                    model.push_back(*v);
                } else {
                    let back = matches!(&r, Err(TrySendError::Full(t)) if t.0 == *v);
                    prop_assert!(back, "full (or no receiver waiting) hands the value back");
                }
            }
            Op::TryRecv => match (rx.try_recv(), model.pop_front()) {
                (Ok(t), Some(v)) => prop_assert_eq!(t.0, v, "FIFO order"),
                (Err(TryRecvError::Empty), None) => prop_assert!(!closed),
                (Err(TryRecvError::Closed), None) => prop_assert!(closed),
                (got, want) => prop_assert!(false, "recv: got {:?}, model {:?}", got, want),
            },
            Op::CloseFromSender => {
                prop_assert_eq!(tx.close(), !closed, "close reports whether it closed");
                closed = true;
            }
            Op::CloseFromReceiver => {
                prop_assert_eq!(rx.close(), !closed);
                closed = true;
            }
            Op::Len => {
                prop_assert_eq!(tx.len(), model.len());
                prop_assert_eq!(rx.len(), model.len());
                prop_assert_eq!(rx.is_closed(), closed);
                prop_assert_eq!(tx.capacity(), cap);
            }
        }
    }
    // Receivers drain a closed channel before seeing the close.
    tx.close();
    while let Ok(t) = rx.try_recv() {
        prop_assert_eq!(Some(t.0), model.pop_front());
    }
    prop_assert!(model.is_empty(), "{} buffered values lost", model.len());
    drop((tx, rx));
    prop_assert_eq!(
        drops.load(Ordering::SeqCst),
        created,
        "every value dropped exactly once"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn channel_matches_the_sequential_model(cap in 0usize..5, ops in prop::collection::vec(op(), 0..80)) {
        check(cap, &ops)?;
    }

    /// The same operations from inside a green thread (the runtime path of every call).
    #[test]
    fn channel_matches_the_model_in_a_green_thread(cap in 0usize..5, ops in prop::collection::vec(op(), 0..80)) {
        let rt = runtime();
        rt.block_on(move || check(cap, &ops))?;
    }
}

fn runtime() -> &'static goro_runtime::Runtime {
    static RT: std::sync::OnceLock<goro_runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| common::rt(2))
}
