//! Regression: green threads parked in channel operations and selects are unwound when
//! their runtime drops. Each waiter must leave its channel's queue as it is unwound; the
//! first version freed waiters that were still queued, and the next `close` of that
//! channel walked freed memory (the W8 sieve segfaulted at exit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro_chan::{bounded, select, RecvError};
use goro_runtime::Runtime;

mod common;

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn parked_channel_operations_are_withdrawn_on_shutdown() {
    for _ in 0..20 {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<u32>(0);
        let (full_tx, full_rx) = bounded::<u32>(1);
        full_tx.send(0).unwrap();
        let rt = common::rt(2);
        for i in 0..30 {
            let (tx, rx, full_tx, full_rx) =
                (tx.clone(), rx.clone(), full_tx.clone(), full_rx.clone());
            let guard = Counted(drops.clone());
            rt.spawn(move || {
                let _g = guard;
                match i % 3 {
                    0 => drop(rx.recv()),
                    1 => drop(full_tx.send(i)),
                    _ => select! {
                        recv(rx) -> _ => {},
                        send(full_tx, i) -> _ => {},
                        recv(goro_chan::never::<u8>()) -> _ => {},
                    },
                }
                drop((tx, full_rx));
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        drop(rt); // unwinds all 30 parked green threads
        assert_eq!(drops.load(Ordering::SeqCst), 30);
        // The queues must be empty and intact: closing and draining touches them.
        assert!(tx.close());
        assert_eq!(rx.recv(), Err(RecvError));
        assert!(full_tx.close());
        assert_eq!(full_rx.recv(), Ok(0));
    }
}

#[test]
fn a_send_after_the_receivers_runtime_dropped_is_never_lost() {
    // A receiver unwound with its runtime once left its waiter queued: the next send handed
    // its value to that dead waiter and returned Ok.
    for cap in [0, 1, 4] {
        for timed in [false, true] {
            let (tx, rx) = bounded::<u32>(cap);
            let rx_b = rx.clone();
            let rt = Runtime::new().unwrap();
            rt.spawn(move || {
                let _ = if timed {
                    rx.recv_timeout(Duration::from_secs(60)).ok()
                } else {
                    rx.recv().ok()
                };
            });
            std::thread::sleep(Duration::from_millis(30));
            drop(rt);
            let case = format!("cap {cap}, recv_timeout {timed}");
            if cap == 0 {
                // Nobody receives: the send must wait, and hand the value back.
                let r = tx.send_timeout(42, Duration::from_millis(50));
                assert_eq!(r.map_err(|e| e.into_inner()), Err(42), "{case}");
            } else {
                tx.send(42).unwrap();
                assert_eq!(
                    rx_b.try_recv(),
                    Ok(42),
                    "{case}: the value is in the buffer"
                );
            }
        }
    }
}

#[test]
fn values_of_senders_parked_at_shutdown_are_dropped_exactly_once() {
    for via_run in [false, true] {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let spawn_senders = {
            let drops = drops.clone();
            move |go: &dyn Fn(Box<dyn FnOnce() + Send>)| {
                for _ in 0..32 {
                    let (tx, drops) = (tx.clone(), drops.clone());
                    go(Box::new(move || drop(tx.send(Counted(drops)))));
                }
            }
        };
        if via_run {
            goro_runtime::run(move || {
                spawn_senders(&|f| drop(goro_runtime::go(f)));
                goro_runtime::sleep(Duration::from_millis(30)); // `run` returns, all parked
            });
        } else {
            let rt = Runtime::new().unwrap();
            spawn_senders(&|f| drop(rt.spawn(f)));
            std::thread::sleep(Duration::from_millis(30));
            drop(rt);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 32, "via run: {via_run}");
        assert!(rx.try_recv().is_err(), "no stale sender is left queued");
    }
}
