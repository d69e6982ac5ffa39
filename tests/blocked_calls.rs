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
/// a child process of this test binary that must finish within two minutes (and 5 s more
/// per round).
fn each_size_in_child(name: &str, case: fn(u64)) {
    let rounds: u64 = std::env::var("GORO_LIVENESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    if is_child(name) {
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
    // A hang never ends; the slowest shape takes ~1.2 s a round on two cores (2026-12-08).
    let bound = Duration::from_secs(120 + 5 * rounds);
    let out = output_within(child_command(name), bound);
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

/// A run of green threads that each block their thread is handed off in a chain: after
/// sysmon takes the processor from the first, each next owner hands it on before it
/// resumes the next green thread (`runtime/src/scheduler/chain.rs`), so 200 green threads
/// in `std::thread::sleep` on one worker do not each wait for a sysmon round.
#[test]
fn a_run_of_green_threads_blocked_in_calls_is_handed_off_in_a_chain() {
    let rt = goro::Runtime::builder().workers(1).build().unwrap();
    let m = rt.block_on(|| {
        let hs: Vec<_> = (0..200)
            .map(|_| goro::go(|| std::thread::sleep(Duration::from_millis(200))))
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        goro::metrics().unwrap()
    });
    // sysmon starts the chain, and restarts it if a link found nothing queued yet; the
    // rest are links. Without chains every one of them is sysmon's.
    assert!(
        m.chained_handoffs >= 100 && m.handoffs >= m.chained_handoffs,
        "{m:?}"
    );
}

/// The chain ends at the first green thread that comes back without having blocked: a
/// burst of blocking green threads followed by many that only compute costs a handoff or
/// two past the burst, not one per green thread.
#[test]
fn a_handoff_chain_ends_at_the_first_green_thread_that_does_not_block() {
    let rt = goro::Runtime::builder().workers(1).build().unwrap();
    let (before, after) = rt.block_on(|| {
        let blocked: Vec<_> = (0..50)
            .map(|_| goro::go(|| std::thread::sleep(Duration::from_millis(100))))
            .collect();
        let quick: Vec<_> = (0..2000u64)
            .map(|i| goro::go(move || (0..100u64).fold(i, |a, b| a.wrapping_mul(31) ^ b)))
            .collect();
        quick.into_iter().for_each(|h| {
            h.join().unwrap();
        });
        let before = goro::metrics().unwrap().chained_handoffs;
        blocked.into_iter().for_each(|h| h.join().unwrap());
        // More quick green threads once the burst is over: no chain runs any more.
        let quick: Vec<_> = (0..2000u64)
            .map(|i| goro::go(move || (0..100u64).fold(i, |a, b| a.wrapping_mul(31) ^ b)))
            .collect();
        quick.into_iter().for_each(|h| {
            h.join().unwrap();
        });
        (before, goro::metrics().unwrap().chained_handoffs)
    });
    // At most the 50 blocked ones and a few quick ones caught mid-chain (each chain that
    // sysmon starts ends at most one link past its last blocking green thread).
    assert!(before <= 100, "chained handoffs during the burst: {before}");
    assert!(
        after - before <= 5,
        "chained handoffs after it: {}",
        after - before
    );
}
