//! Memory of many parked tasks (W7's shape): green threads each parked on its own goro
//! channel, against OS threads each blocked on its own `std::sync::mpsc` channel.
//!
//! criterion measures bytes here, not time: [`ResidentBytes`] is a custom measurement, and
//! each iteration runs in a fresh child process (this bench re-executed with
//! `GORO_BENCH_PARKED=kind:n`) that starts `n` tasks, waits until all are parked, and
//! reports how much its resident set grew. A fresh process per sample is the only honest
//! way: inside one process the second round would reuse the first round's pooled stacks
//! and freed heap, and measure nothing. With `Throughput::Elements(n)` the summary reads
//! bytes per task.
//!
//! RSS counts the pages the tasks touched (stack pages, heap). It does not count what the
//! kernel keeps per OS thread (a 16 KiB kernel stack, the task struct), so the OS-thread
//! figure is a lower bound.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};

const CHILD: &str = "GORO_BENCH_PARKED";
const GREEN: usize = 10_000;
const OS: usize = 1_000;

/// Bytes of resident memory, as the child processes report them.
struct ResidentBytes;

impl Measurement for ResidentBytes {
    type Intermediate = ();
    type Value = u64;

    fn start(&self) {}

    fn end(&self, _: ()) -> u64 {
        0 // every value comes from `iter_custom`
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &BytesFormatter
    }
}

struct BytesFormatter;

impl ValueFormatter for BytesFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical >= 1024.0 * 1024.0 {
            (1024.0 * 1024.0, "MiB")
        } else if typical >= 1024.0 {
            (1024.0, "KiB")
        } else {
            (1.0, "B")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n,
        } as f64;
        values.iter_mut().for_each(|v| *v /= n);
        match self.scale_values(typical / n, values) {
            "MiB" => "MiB/task",
            "KiB" => "KiB/task",
            _ => "B/task",
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "B"
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// In the child: start `n` tasks of `kind`, wait until all are parked, print the growth.
fn child(spec: &str) {
    let (kind, n) = spec.split_once(':').expect("kind:n");
    let n: usize = n.parse().expect("n");
    let started = Arc::new(AtomicUsize::new(0));
    let grew = match kind {
        "green" => goro::run(move || {
            let before = rss_bytes();
            let senders: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, rx) = goro::chan::bounded::<()>(0);
                    let started = started.clone();
                    goro::go(move || {
                        started.fetch_add(1, Ordering::Relaxed);
                        let _ = rx.recv();
                    });
                    tx
                })
                .collect();
            while started.load(Ordering::Relaxed) < n {
                goro::sleep(Duration::from_millis(1));
            }
            goro::sleep(Duration::from_millis(5)); // the last ones reach their park
            let grew = rss_bytes().saturating_sub(before);
            drop(senders); // every receiver wakes with Err and ends
            grew
        }),
        "os" => {
            let before = rss_bytes();
            let (senders, threads): (Vec<_>, Vec<_>) = (0..n)
                .map(|_| {
                    let (tx, rx) = std::sync::mpsc::channel::<()>();
                    let started = started.clone();
                    let t = std::thread::spawn(move || {
                        started.fetch_add(1, Ordering::Relaxed);
                        let _ = rx.recv();
                    });
                    (tx, t)
                })
                .unzip();
            while started.load(Ordering::Relaxed) < n {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(5));
            let grew = rss_bytes().saturating_sub(before);
            drop(senders);
            threads.into_iter().for_each(|t| t.join().unwrap());
            grew
        }
        other => panic!("unknown kind {other}"),
    };
    println!("{grew}");
}

fn run_child(kind: &str, n: usize) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, format!("{kind}:{n}"))
        .output()
        .expect("re-execute the bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("bytes")
}

fn parked(c: &mut Criterion<ResidentBytes>) {
    let mut group = c.benchmark_group("parked_memory_bytes");
    // Values are bytes, so criterion's "times" are bytes too: a target of 20 times the
    // expected bytes per child makes 10 flat samples of a few children each. criterion's
    // "Unable to complete 10 samples" warning is about those byte-"times"; ignore it.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_nanos(1));
    for (name, kind, n, expect) in [
        ("goro_green", "green", GREEN, 4_500),
        ("std_thread", "os", OS, 10_000),
    ] {
        group.measurement_time(Duration::from_nanos((20 * n * expect) as u64));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run_child(kind, n)).sum())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ResidentBytes);
    targets = parked
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
