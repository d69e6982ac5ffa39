//! A short tour of goro: `cargo run --release --example tour`.
//!
//! Green threads, sleep, panics, work stealing, yield, channels and select.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    goro::run(|| {
        println!(
            "goro tour — {} processors (GORO_MAXPROCS to change)\n",
            worker_count()
        );

        // 1. go + join: 100 000 green threads.
        let t = Instant::now();
        let hs: Vec<_> = (0..100_000u64).map(|i| goro::go(move || i * 2)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        println!(
            "1. spawned and joined 100000 green threads in {:?} (sum {sum})",
            t.elapsed()
        );

        // 2. sleep parks only the green thread: 1000 sleepers finish together.
        let t = Instant::now();
        let hs: Vec<_> = (0..1000)
            .map(|_| goro::go(|| goro::sleep(Duration::from_millis(50))))
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        println!(
            "2. 1000 green threads slept 50 ms each, concurrently: {:?} in total",
            t.elapsed()
        );

        // 3. A panic stays in its green thread and comes back through join.
        let err = goro::go(|| -> () { panic!("oops") }).join().unwrap_err();
        println!(
            "3. a green thread panicked with {:?}; everyone else is fine",
            err.downcast_ref::<&str>().unwrap()
        );

        // 4. Work spawned on one worker runs on all of them (work stealing).
        let threads = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let th = threads.clone();
                goro::go(move || {
                    let x: u64 = (0..20_000u64).fold(0, |a, b| a.wrapping_mul(31).wrapping_add(b));
                    std::hint::black_box(x);
                    th.lock()
                        .unwrap()
                        .insert(std::thread::current().name().unwrap_or("?").to_string());
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        println!(
            "4. 1000 CPU-bound green threads ran on: {:?}",
            threads.lock().unwrap()
        );

        // 5. yield_now is a cooperative context switch.
        let n = 200_000;
        let counter = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let c = counter.clone();
                goro::go(move || {
                    for _ in 0..n {
                        c.fetch_add(1, Ordering::Relaxed);
                        goro::yield_now();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        println!(
            "5. {} yields in {:?} ({:.0} ns each)",
            2 * n,
            t.elapsed(),
            t.elapsed().as_nanos() as f64 / (2 * n) as f64
        );

        // 6. Channels: ping-pong over two unbuffered channels (a rendezvous each way).
        let (a_tx, a_rx) = goro::chan::bounded::<u64>(0);
        let (b_tx, b_rx) = goro::chan::bounded::<u64>(0);
        let echo = goro::go(move || {
            for v in &a_rx {
                b_tx.send(v + 1).unwrap();
            }
        });
        let rounds = 100_000;
        let t = Instant::now();
        let mut v = 0;
        for _ in 0..rounds {
            a_tx.send(v).unwrap();
            v = b_rx.recv().unwrap();
        }
        drop(a_tx); // close: the echo loop ends
        echo.join().unwrap();
        println!(
            "6. {rounds} channel round trips in {:?} ({:.0} ns each), value {v}",
            t.elapsed(),
            t.elapsed().as_nanos() as f64 / rounds as f64
        );

        // 7. select with default, then with a timeout.
        let (tx, rx) = goro::chan::bounded::<&str>(1);
        let idle = goro::select! {
            recv(rx) -> m => m.unwrap(),
            default => "nothing ready (default ran)",
        };
        goro::go(move || {
            goro::sleep(Duration::from_millis(20));
            tx.send("a message").unwrap();
        });
        let got = goro::select! {
            recv(rx) -> m => m.unwrap(),
            recv(goro::time::after(Duration::from_secs(1))) -> _ => "timed out",
        };
        println!("7. select: first {idle:?}, then {got:?}");

        println!(
            "\nlive green threads at the end: {} (main)",
            goro::num_goroutines()
        );
    });
}

fn worker_count() -> usize {
    std::env::var("GORO_MAXPROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
