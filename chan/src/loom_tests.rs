//! loom models of hchan: send/recv hand-off, close and receiver-disconnect racing parked
//! parties, and a blocked select whose cases are completed by wakers on two channels.
//!
//! The parties are loom model threads, so they take the OS-thread form of `park` (the
//! runtime's `ThreadParker`, loom-instrumented). Green threads run the same channel code;
//! only the way a party sleeps differs, and that part is modelled in goro-runtime's own
//! loom tests. Every value is accounted for: received, handed back in an error, or
//! dropped with the channel exactly once.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p goro-chan --lib --release loom_`.

use std::sync::atomic::{AtomicUsize as StdCount, Ordering as StdOrdering};
use std::sync::Arc;

use loom::thread;

use crate::{bounded, Select};

/// `loom::model` with a preemption bound of 3 (bugs found by model checkers almost always
/// need very few preemptions; each lock, hint and park-state access is a branch point).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.max_branches = 20_000;
    b.check(f);
}

/// A value that counts its drops (bookkeeping only: loom runs model threads one at a time
/// on one OS thread, so a std atomic is enough here).
#[derive(Debug)]
struct Tracked(u32, Arc<StdCount>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, StdOrdering::Relaxed);
    }
}

/// An unbuffered send meets a receive: the value goes straight across, once, whichever
/// party arrives first and parks.
#[test]
fn loom_unbuffered_send_meets_recv() {
    model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let t = thread::spawn(move || tx.send(7).is_ok());
        assert_eq!(rx.recv(), Ok(7));
        assert!(t.join().unwrap());
    });
}

/// One slot, two values, then the last sender drops (close): the receiver sees both in
/// order, then `Err`, wherever the sender's park and the close fall.
#[test]
fn loom_buffered_values_then_close_in_order() {
    model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert!(rx.recv().is_err());
        t.join().unwrap();
    });
}

/// `close` wakes a sender parked on an unbuffered channel (or one about to park) with its
/// value handed back, and a receiver parked on another channel with `Err`.
#[test]
fn loom_close_wakes_parked_sender_and_receiver() {
    model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (tx2, rx2) = bounded::<u32>(0);
        let sender = thread::spawn(move || tx.send(7).map_err(|e| e.into_inner()));
        let receiver = thread::spawn(move || rx2.recv().is_err());
        assert!(rx.close());
        assert!(tx2.close());
        assert_eq!(sender.join().unwrap(), Err(7));
        assert!(receiver.join().unwrap());
    });
}

/// `close` races a sender parked on an unbuffered channel and a receiver: either the value
/// crossed (send `Ok`, receive `Ok(7)`) or the sender got it back and the receiver saw
/// the close — never both, never neither.
#[test]
fn loom_close_races_parked_sender_and_receiver() {
    model(|| {
        let drops = Arc::new(StdCount::new(0));
        let (tx, rx) = bounded::<Tracked>(0);
        let closer = tx.clone();
        let d = drops.clone();
        let sender = thread::spawn(move || match tx.send(Tracked(7, d)) {
            Ok(()) => None,
            Err(e) => Some(e.into_inner().0),
        });
        let c = thread::spawn(move || closer.close());
        let got = rx.recv().ok().map(|v| v.0);
        let handed_back = sender.join().unwrap();
        assert!(c.join().unwrap(), "nobody else closes");
        match (got, handed_back) {
            (Some(7), None) | (None, Some(7)) => {}
            other => panic!("value duplicated or lost: {other:?}"),
        }
        assert_eq!(drops.load(StdOrdering::Relaxed), 1);
    });
}

/// The last receiver leaves while a sender fills the one slot and parks on the next send:
/// every value is dropped exactly once (with the buffer, or by the sender that got it
/// back), and once a send failed, later ones fail too.
#[test]
fn loom_receiver_leaving_drops_or_hands_back_every_value() {
    model(|| {
        let drops = Arc::new(StdCount::new(0));
        let (tx, rx) = bounded::<Tracked>(1);
        let d = drops.clone();
        let sender = thread::spawn(move || {
            let first = tx.send(Tracked(1, d.clone())).is_ok();
            let second = tx.send(Tracked(2, d)).is_ok();
            assert!(first || !second, "a send succeeded after one failed");
        });
        drop(rx);
        sender.join().unwrap();
        assert_eq!(drops.load(StdOrdering::Relaxed), 2);
    });
}

/// A blocked select with a send case and a receive case, completed by a receiver on one
/// channel and a sender on the other racing for its claim: exactly one case fires, the
/// loser's party is served afterwards, and both values arrive exactly once.
#[test]
fn loom_select_claim_completes_exactly_one_case() {
    model(|| {
        let (out_tx, out_rx) = bounded::<u32>(0);
        let (in_tx, in_rx) = bounded::<u32>(0);
        let receiver = thread::spawn(move || out_rx.recv().unwrap());
        let sender = thread::spawn(move || in_tx.send(20).unwrap());

        let mut sel = Select::new();
        let s = sel.send(&out_tx, 10);
        let r = sel.recv(&in_rx);
        let fired = sel.select();
        if fired == s.index() {
            assert_eq!(sel.send_result(s), Ok(()));
            assert_eq!(in_rx.recv(), Ok(20));
        } else {
            assert_eq!(fired, r.index());
            assert_eq!(sel.recv_result(r), Ok(20));
            out_tx.send(10).unwrap();
        }
        assert_eq!(receiver.join().unwrap(), 10);
        sender.join().unwrap();
    });
}

/// An async receive is polled once (queued) and dropped while a sender delivers: the
/// value is received exactly once — by the future, or after the drop gave it back — on an
/// unbuffered channel (the sender parks until someone takes it) and a buffered one.
#[test]
fn loom_dropped_recv_future_gives_the_value_back() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    for cap in [0usize, 1] {
        model(move || {
            let (tx, rx) = bounded::<u32>(cap);
            let t = thread::spawn(move || tx.send(9).is_ok());
            let mut fut = Box::pin(rx.recv_async());
            let got_by_future = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(r) => r.ok(),
                Poll::Pending => None,
            };
            drop(fut);
            let got = match got_by_future {
                Some(v) => v,
                None => rx.recv().expect("the value was given back"),
            };
            assert_eq!(got, 9);
            assert!(t.join().unwrap());
            assert!(rx.try_recv().is_err(), "received exactly once");
        });
    }
}
