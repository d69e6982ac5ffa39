//! Buffered, unbuffered, close and drop semantics, on green threads and OS threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_chan::*;
use goro_runtime::{go, run};

mod common;

#[test]
fn buffered_fifo_and_capacity() {
    let (tx, rx) = bounded(3);
    assert_eq!((tx.capacity(), rx.capacity()), (3, 3));
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(tx.len(), 3);
    assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn unbuffered_send_completes_only_when_received() {
    run(|| {
        let (tx, rx) = bounded::<u32>(0);
        assert!(
            matches!(tx.try_send(1), Err(TrySendError::Full(1))),
            "no receiver waiting"
        );
        let received = Arc::new(AtomicUsize::new(0));
        let r = received.clone();
        let h = go(move || {
            goro_runtime::sleep(Duration::from_millis(20));
            r.store(1, Ordering::SeqCst);
            rx.recv().unwrap()
        });
        tx.send(5).unwrap();
        assert_eq!(
            received.load(Ordering::SeqCst),
            1,
            "send returned before the receive"
        );
        assert_eq!(h.join().unwrap(), 5);
    });
}

#[test]
fn close_wakes_receivers_after_draining_and_hands_values_back() {
    run(|| {
        let (tx, rx) = bounded(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        // A parked sender is woken by close with its value.
        let tx2 = tx.clone();
        let parked = go(move || tx2.send(3));
        while tx.len() < 2 {
            goro_runtime::yield_now();
        }
        goro_runtime::sleep(Duration::from_millis(10));
        assert!(tx.close());
        assert!(!rx.close(), "already closed");
        assert_eq!(parked.join().unwrap(), Err(SendError(3)));
        assert_eq!(tx.send(4), Err(SendError(4)));
        assert!(rx.is_closed());
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn parked_receivers_wake_on_close() {
    run(|| {
        let (tx, rx) = bounded::<u8>(0);
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let rx = rx.clone();
                go(move || rx.recv())
            })
            .collect();
        goro_runtime::sleep(Duration::from_millis(10));
        drop(tx); // last sender: closes
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }
    });
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn last_receiver_drop_drops_buffer_and_fails_sends() {
    run(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(2);
        tx.send(Counted(drops.clone())).unwrap();
        tx.send(Counted(drops.clone())).unwrap();
        let tx2 = tx.clone();
        let d = drops.clone();
        let parked = go(move || tx2.send(Counted(d)).is_err());
        goro_runtime::sleep(Duration::from_millis(10));
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "buffered values dropped");
        assert!(parked.join().unwrap(), "parked sender got its value back");
        let err = tx.send(Counted(drops.clone())).unwrap_err();
        drop(err.into_inner());
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn timeouts() {
    let (tx, rx) = bounded::<u8>(1);
    let t = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    tx.send(1).unwrap();
    assert!(matches!(
        tx.send_timeout(2, Duration::from_millis(10)),
        Err(SendTimeoutError::Timeout(2))
    ));
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
    run(move || {
        let t = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(20));
        tx.send(3).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(3));
        drop(tx);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Closed)
        );
    });
}

#[test]
fn green_and_os_threads_share_a_channel() {
    let rt = common::rt(2);
    let (tx, rx) = bounded::<u64>(0);
    let (done_tx, done_rx) = bounded::<u64>(4);
    for _ in 0..2 {
        let (rx, d) = (rx.clone(), done_tx.clone());
        rt.spawn(move || d.send(rx.iter().sum()).unwrap());
    }
    for _ in 0..2 {
        let (rx, d) = (rx.clone(), done_tx.clone());
        std::thread::spawn(move || d.send(rx.iter().sum()).unwrap());
    }
    drop((rx, done_tx));
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let tx = tx.clone();
            if p == 0 {
                rt.spawn(move || (0..5000u64).for_each(|i| tx.send(i).unwrap()))
            } else {
                let h =
                    std::thread::spawn(move || (5000..10000u64).for_each(|i| tx.send(i).unwrap()));
                rt.spawn(move || h.join().unwrap())
            }
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    let total: u64 = done_rx.iter().sum();
    assert_eq!(total, 9999 * 10000 / 2);
}

#[test]
fn iterators_and_never() {
    let (tx, rx) = bounded(10);
    (0..5).for_each(|i| tx.send(i).unwrap());
    drop(tx);
    assert_eq!((&rx).into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    let (tx, rx) = bounded(10);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.into_iter().count(), 1);
    let n = never::<u8>();
    assert_eq!(n.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        n.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn errors_are_debug_display_without_t_debug() {
    struct Opaque;
    let e = TrySendError::Full(Opaque);
    assert_eq!(format!("{e:?}"), "TrySendError::Full(..)");
    assert_eq!(e.to_string(), "sending on a full channel");
    let e: Box<dyn std::error::Error> = Box::new(SendError(Opaque));
    assert_eq!(e.to_string(), "sending on a closed channel");
    assert!(SendTimeoutError::Timeout(1).is_timeout());
}

#[test]
fn handles_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sender<Vec<u8>>>();
    assert_send_sync::<Receiver<Vec<u8>>>();
}

#[test]
#[should_panic(expected = "capacity")]
fn impossible_capacity_is_a_clear_panic() {
    let _ = bounded::<[u8; 1024]>(usize::MAX / 2);
}

#[test]
fn stress_mpmc_counts_every_message() {
    let n_per = if std::env::var_os("GORO_STRESS").is_some() {
        200_000
    } else {
        20_000
    };
    for cap in [0, 1, 16, 128] {
        let rt = common::rt(2);
        let total = rt.block_on(move || {
            let (tx, rx) = bounded::<u64>(cap);
            let producers: Vec<_> = (0..4)
                .map(|p| {
                    let tx = tx.clone();
                    go(move || (0..n_per).for_each(|i| tx.send(p * 1_000_000 + i).unwrap()))
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || {
                        let mut seen = Vec::new();
                        for v in &rx {
                            seen.push(v);
                        }
                        seen
                    })
                })
                .collect();
            producers.into_iter().for_each(|p| p.join().unwrap());
            let mut all: Vec<u64> = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            all.sort_unstable();
            let expected: Vec<u64> = (0..4)
                .flat_map(|p| (0..n_per).map(move |i| p * 1_000_000 + i))
                .collect();
            assert_eq!(all, expected, "cap {cap}: lost or duplicated");
            all.len()
        });
        assert_eq!(total, 4 * n_per as usize);
    }
}

#[test]
fn channels_work_in_a_thread_local_destructor_after_the_parker_is_gone() {
    // crossbeam-channel's `use_while_exiting`: `FOO` is initialised before goro's thread
    // parker, so at thread exit the parker is destroyed first and `FOO`'s destructor then
    // blocks on channels. It once panicked with `AccessError` under the channel lock, and
    // the unwinding `Receiver` then spun on that lock forever.
    struct Foo(Arc<AtomicUsize>);
    impl Drop for Foo {
        fn drop(&mut self) {
            let (_tx, rx) = bounded::<()>(0);
            let r = rx.recv_timeout(Duration::from_millis(20));
            assert_eq!(r, Err(RecvTimeoutError::Timeout));
            goro_chan::select! {
                recv(rx) -> _ => unreachable!(),
                recv(goro_chan::time::after(Duration::from_millis(20))) -> _ => {},
            }
            let (tx, rx) = bounded::<u32>(1);
            tx.send(7).unwrap();
            assert_eq!(rx.recv(), Ok(7));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local! {
        static FOO: std::cell::RefCell<Option<Foo>> = const { std::cell::RefCell::new(None) };
    }
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<()>(0);
    let d = done.clone();
    let t = std::thread::spawn(move || {
        FOO.with(|f| *f.borrow_mut() = Some(Foo(d)));
        rx.recv().unwrap(); // blocks: creates the thread parker after FOO
    });
    std::thread::sleep(Duration::from_millis(20));
    tx.send(()).unwrap();
    t.join().expect("the exiting thread must not panic");
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[test]
fn is_full_and_unwind_safety_match_crossbeam() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    let (tx, rx) = bounded::<std::cell::Cell<u8>>(2);
    unwind_safe(&tx);
    unwind_safe(&rx);
    assert!(!tx.is_full());
    tx.send(std::cell::Cell::new(1)).unwrap();
    tx.send(std::cell::Cell::new(2)).unwrap();
    assert!(tx.is_full() && rx.is_full());
    let r = std::panic::catch_unwind(|| rx.recv().unwrap().get());
    assert_eq!(r.unwrap(), 1);
    assert!(!rx.is_full());
    let (tx0, _rx0) = bounded::<u8>(0);
    assert!(tx0.is_full(), "an unbuffered channel is always full");
}
