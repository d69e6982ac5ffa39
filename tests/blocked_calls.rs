//! Many green threads blocked in `std` calls and sync crates' locks never hang the
//! runtime: sysmon hands each processor held by a thread blocked in the kernel to another
//! thread (`runtime/src/scheduler/handoff.rs`), so the green threads that would wake them —
//! whose timers are due, queued behind them — still run.
//!
//! Each case runs N = 10, 100 and 1 000 blocked green threads, on one worker and on the
//! default count, in a child process bounded in time. Before the worker's "inside a green
//! thread" flag moved from the processor to the thread, the first case hung in 15 of 15
//! runs at N = 100 on two workers. `GORO_LIVENESS_ROUNDS=100` repeats every case.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use goro::chan;

mod common;
use common::{child_command, is_child, output_within};

const SIZES: [u64; 3] = [10, 100, 1000];

/// Runs `case(n)` for every N, on one worker and on the default count, `rounds` times, in
/// a child process of this test binary that must finish within two minutes.
fn each_size_in_child(name: &str, case: fn(u64)) {
    if is_child(name) {
        let rounds: usize = std::env::var("GORO_LIVENESS_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        for _ in 0..rounds {
            for workers in [Some(1), None] {
                for n in SIZES {
                    let mut b = goro::Runtime::builder().detect_deadlocks(true);
                    if let Some(w) = workers {
                        b = b.workers(w);
                    }
                    b.build().unwrap().block_on(move || case(n));
                }
            }
        }
        return;
    }
    let out = output_within(child_command(name), Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Green threads blocked in `std::sync::mpsc::Receiver::recv`, each woken by a green
/// thread that sends after a 10 ms `goro::sleep` (the timer must fire meanwhile).
fn mpsc_receivers(n: u64) {
    let mut hs = vec![];
    for i in 0..n {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        hs.push(goro::go(move || rx.recv().unwrap()));
        goro::go(move || {
            goro::sleep(Duration::from_millis(10));
            tx.send(i).unwrap();
        });
    }
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, n * (n - 1) / 2, "every value arrived once");
}

#[test]
fn green_threads_blocked_in_std_mpsc_recv_are_all_woken() {
    each_size_in_child(
        "green_threads_blocked_in_std_mpsc_recv_are_all_woken",
        mpsc_receivers,
    );
}

/// Green threads waiting on a `std::sync::Condvar`, each notified by a green thread after
/// a 10 ms `goro::sleep`.
fn std_condvar_waiters(n: u64) {
    let mut hs = vec![];
    for _ in 0..n {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = pair.clone();
        hs.push(goro::go(move || {
            let (lock, cv) = &*waiter;
            let mut ready = lock.lock().unwrap();
            while !*ready {
                ready = cv.wait(ready).unwrap();
            }
        }));
        goro::go(move || {
            goro::sleep(Duration::from_millis(10));
            let (lock, cv) = &*pair;
            *lock.lock().unwrap() = true;
            cv.notify_one();
        });
    }
    hs.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn green_threads_waiting_on_a_std_condvar_are_all_notified() {
    each_size_in_child(
        "green_threads_waiting_on_a_std_condvar_are_all_notified",
        std_condvar_waiters,
    );
}

/// Green threads taking one `parking_lot::Mutex` whose holder sleeps (`goro::sleep`) with
/// it held: the others block their threads in `lock()`, and the holder's timer must still
/// fire and the holder run.
fn parking_lot_across_sleep(n: u64) {
    let count = Arc::new(parking_lot::Mutex::new(0u64));
    let hold = Duration::from_micros(if n > 100 { 100 } else { 1000 });
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let count = count.clone();
            goro::go(move || {
                let mut c = count.lock();
                goro::sleep(hold);
                *c += 1;
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*count.lock(), n);
}

#[test]
fn a_parking_lot_mutex_held_across_goro_sleep_is_released() {
    each_size_in_child(
        "a_parking_lot_mutex_held_across_goro_sleep_is_released",
        parking_lot_across_sleep,
    );
}

/// Green threads in `std::thread::sleep` (10 ms), while another green thread ticks with
/// `goro::sleep` and counts the sleepers' results off a channel.
fn std_thread_sleepers(n: u64) {
    let (tx, rx) = chan::bounded::<u64>(0);
    for i in 0..n {
        let tx = tx.clone();
        goro::go(move || {
            std::thread::sleep(Duration::from_millis(10));
            tx.send(i).unwrap();
        });
    }
    drop(tx);
    let ticker = goro::go(|| {
        for _ in 0..20 {
            goro::sleep(Duration::from_millis(1));
        }
    });
    let sum: u64 = rx.iter().sum();
    assert_eq!(sum, n * (n - 1) / 2);
    ticker.join().unwrap();
}

#[test]
fn green_threads_in_std_thread_sleep_do_not_stop_the_others() {
    each_size_in_child(
        "green_threads_in_std_thread_sleep_do_not_stop_the_others",
        std_thread_sleepers,
    );
}
