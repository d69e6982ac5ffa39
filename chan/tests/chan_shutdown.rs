//! Regression: green threads parked in channel operations and selects are unwound when
//! their runtime drops. Each waiter must leave its channel's queue as it is unwound; the
//! first version freed waiters that were still queued, and the next `close` of that
//! channel walked freed memory (the W8 sieve segfaulted at exit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro_chan::{bounded, select, RecvError};
use goro_runtime::Runtime;

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
        let rt = Runtime::builder().workers(2).build().unwrap();
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
