//! The standard workloads W1–W9 of `../shared/anchors` (see its README), so that
//! `../shared/anchors/run.sh --goro .` runs goro beside Go, tokio and may in one matrix.
//!
//! Usage: `workloads <workload> <n>`; prints one line `<workload> goro <value> <unit>`.
//! Implemented so far: spawn (W1), yield (W6), memory (W7). Channel workloads arrive with
//! goro-chan.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn report(w: &str, v: f64, unit: &str) {
    println!("{w} goro {v:.1} {unit}");
}

fn die(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// W1: spawn n green threads, each bumps a shared counter; wait for all of them.
fn spawn(n: usize) {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let ns = goro::run(move || {
        let start = Instant::now();
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let c = c.clone();
            hs.push(goro::go(move || {
                c.fetch_add(1, Ordering::Relaxed);
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        start.elapsed().as_nanos() as f64 / n as f64
    });
    if counter.load(Ordering::Relaxed) != n {
        die("spawn: counter mismatch");
    }
    report("spawn", ns, "ns/task");
}

/// W6: two green threads each yield n times on a 1-worker runtime.
fn yield_(n: usize) {
    let rt = goro::Runtime::builder().workers(1).build().unwrap();
    let ns = rt.block_on(move || {
        let start = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                goro::go(move || {
                    for _ in 0..n {
                        goro::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        start.elapsed().as_nanos() as f64 / (2 * n) as f64
    });
    report("yield", ns, "ns/yield");
}

fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

/// A one-shot gate built on the park API (stands in for a channel until goro-chan):
/// waiters park until `open` is called.
struct Gate {
    open: Mutex<bool>,
    waiters: Mutex<Vec<goro::park::Unparker>>,
}

impl Gate {
    fn wait(&self) {
        loop {
            let open = self.open.lock().unwrap();
            if *open {
                return;
            }
            self.waiters.lock().unwrap().push(goro::park::current());
            goro::park::park(goro::park::WaitReason::Other, move || drop(open));
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        for w in self.waiters.lock().unwrap().drain(..) {
            w.unpark();
        }
    }
}

/// W7: n green threads parked at once; RSS growth per green thread.
fn memory(n: usize) {
    let rt = goro::Runtime::new().unwrap();
    let gate = Arc::new(Gate {
        open: Mutex::new(false),
        waiters: Mutex::new(Vec::with_capacity(n)),
    });
    let started = Arc::new(AtomicUsize::new(0));
    let before = rss();
    let (g2, s2) = (gate.clone(), started.clone());
    let hs = rt.block_on(move || {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (g, s) = (g2.clone(), s2.clone());
                goro::go(move || {
                    s.fetch_add(1, Ordering::Relaxed);
                    g.wait();
                })
            })
            .collect();
        while s2.load(Ordering::Relaxed) < n {
            goro::sleep(Duration::from_millis(1));
        }
        hs
    });
    std::thread::sleep(Duration::from_millis(200));
    let after = rss();
    let maps = map_count();
    gate.open();
    for h in hs {
        h.join().unwrap();
    }
    eprintln!("memory goro: rss before={before} after={after} n={n} maps={maps} (stack reservation 256 KiB, committed on touch)");
    report("memory", (after - before) as f64 / n as f64, "B/task");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let w = args.get(1).map(String::as_str).unwrap_or("");
    let n = |d: usize| {
        args.get(2)
            .map_or(d, |s| s.parse().unwrap_or_else(|_| die("bad n")))
    };
    match w {
        "spawn" => spawn(n(200_000)),
        "yield" => yield_(n(1_000_000)),
        "memory" => memory(n(100_000)),
        _ => die("usage: workloads <spawn|yield|memory> [n]"),
    }
}
