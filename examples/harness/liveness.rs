//! Liveness figures: how late an unrelated green thread's 10 ms sleeps end, and how long a
//! channel hand-off waits, while K green threads block their OS thread for 300 ms — in a
//! `std` call (`std::thread::sleep`, standing for any blocking library call) or spinning
//! without ever parking. 16 scenarios: K = 1, 2, 4, 8; blocked or spinning; the default
//! worker count and one worker. Eight more show the same call marked with
//! `goro::blocking`, which hands the processor off before the call instead of after
//! sysmon notices it.
//!
//! `cargo run --release --example liveness` prints one line per scenario. Processor
//! handoff (`runtime/src/scheduler/handoff.rs`) bounds both figures by sysmon's detection
//! delay (10 ms) plus a tick; without it they grow to the blocking time, K × 300 ms on one
//! worker.

use std::time::{Duration, Instant};

use goro::chan;

const BLOCK: Duration = Duration::from_millis(300);
const SLEEP: Duration = Duration::from_millis(10);

#[derive(Clone, Copy)]
enum Kind {
    Blocked,
    Spinning,
    /// The same `std` call marked with `goro::blocking`: handed off before it starts.
    Marked,
}

fn block(kind: Kind) {
    match kind {
        Kind::Blocked => std::thread::sleep(BLOCK),
        Kind::Marked => goro::blocking(|| std::thread::sleep(BLOCK)),
        Kind::Spinning => {
            let t = Instant::now();
            while t.elapsed() < BLOCK {
                std::hint::spin_loop();
            }
        }
    }
}

/// (worst sleep lateness, worst hand-off wait) while `k` green threads block.
fn scenario(workers: Option<usize>, k: usize, kind: Kind) -> (Duration, Duration) {
    let mut b = goro::Runtime::builder();
    if let Some(n) = workers {
        b = b.workers(n);
    }
    let rt = b.build().expect("runtime");
    rt.block_on(move || {
        let window = BLOCK + Duration::from_millis(100);
        // The unrelated sleeper.
        let sleeper = goro::go(move || {
            let (start, mut worst) = (Instant::now(), Duration::ZERO);
            while start.elapsed() < window {
                let t = Instant::now();
                goro::sleep(SLEEP);
                worst = worst.max(t.elapsed().saturating_sub(SLEEP));
            }
            worst
        });
        // The hand-off: a sender due to send every 10 ms (on a schedule, so a stalled
        // sender counts too), a receiver timing how long after its due time each value
        // arrives.
        let (tx, rx) = chan::bounded::<Instant>(0);
        goro::go(move || {
            let start = Instant::now();
            let mut due = start;
            while start.elapsed() < window {
                due += SLEEP;
                let wait = due.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    goro::sleep(wait); // (a zero sleep would yield: to the back of the queue)
                }
                if tx.send(due).is_err() {
                    return;
                }
            }
        });
        let receiver = goro::go(move || {
            let mut worst = Duration::ZERO;
            for due in rx.iter() {
                worst = worst.max(due.elapsed());
            }
            worst
        });
        goro::sleep(Duration::from_millis(20)); // the probes are running
        let blockers: Vec<_> = (0..k).map(|_| goro::go(move || block(kind))).collect();
        let late = sleeper.join().unwrap();
        let wait = receiver.join().unwrap();
        for b in blockers {
            b.join().unwrap();
        }
        (late, wait)
    })
}

fn main() {
    let default = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("K green threads block their OS thread for 300 ms; an unrelated green thread");
    println!("sleeps 10 ms at a time, and a pair hands a value over a channel every 10 ms.");
    println!();
    println!("| workers | K | blocked by | worst sleep lateness | worst hand-off wait |");
    println!("|---:|---:|---|---:|---:|");
    for (workers, label) in [(None, default), (Some(1), 1)] {
        for kind in [Kind::Blocked, Kind::Spinning, Kind::Marked] {
            for k in [1, 2, 4, 8] {
                let (late, wait) = scenario(workers, k, kind);
                let by = match kind {
                    Kind::Blocked => "std call",
                    Kind::Spinning => "spinning",
                    Kind::Marked => "goro::blocking",
                };
                println!(
                    "| {label} | {k} | {by} | {:.1} ms | {:.1} ms |",
                    late.as_secs_f64() * 1e3,
                    wait.as_secs_f64() * 1e3
                );
            }
        }
    }
}
