#![allow(missing_docs)] // criterion_group! generates undocumented items

//! Channels: goro on green threads against std::sync::mpsc and crossbeam-channel on OS
//! threads, in the shapes of the anchors' W2 (ping-pong), W3 (SPSC), W4 (MPMC), W5 (select).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const RT: u64 = 10_000; // round trips / messages per iteration

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");
    g.throughput(Throughput::Elements(RT));
    let rt = goro::Runtime::new().unwrap();
    g.bench_function(BenchmarkId::new("goro", RT), |b| {
        b.iter(|| {
            rt.block_on(|| {
                let (a_tx, a_rx) = goro::chan::bounded::<u64>(0);
                let (b_tx, b_rx) = goro::chan::bounded::<u64>(0);
                goro::go(move || a_rx.iter().for_each(|v| b_tx.send(v + 1).unwrap()));
                (0..RT).fold(0, |v, _| {
                    a_tx.send(v).unwrap();
                    b_rx.recv().unwrap()
                })
            })
        })
    });
    g.bench_function(BenchmarkId::new("std_mpsc", RT), |b| {
        b.iter(|| {
            let (a_tx, a_rx) = std::sync::mpsc::sync_channel::<u64>(0);
            let (b_tx, b_rx) = std::sync::mpsc::sync_channel::<u64>(0);
            let t = std::thread::spawn(move || a_rx.iter().for_each(|v| b_tx.send(v + 1).unwrap()));
            let v = (0..RT).fold(0, |v, _| {
                a_tx.send(v).unwrap();
                b_rx.recv().unwrap()
            });
            drop(a_tx);
            t.join().unwrap();
            v
        })
    });
    g.bench_function(BenchmarkId::new("crossbeam", RT), |b| {
        b.iter(|| {
            let (a_tx, a_rx) = crossbeam_channel::bounded::<u64>(0);
            let (b_tx, b_rx) = crossbeam_channel::bounded::<u64>(0);
            let t = std::thread::spawn(move || a_rx.iter().for_each(|v| b_tx.send(v + 1).unwrap()));
            let v = (0..RT).fold(0, |v, _| {
                a_tx.send(v).unwrap();
                b_rx.recv().unwrap()
            });
            drop(a_tx);
            t.join().unwrap();
            v
        })
    });
    g.finish();
}

fn spsc_mpmc(c: &mut Criterion) {
    for (name, producers, consumers) in [("spsc", 1usize, 1usize), ("mpmc", 4, 4)] {
        let mut g = c.benchmark_group(name);
        let n = 100_000u64;
        g.throughput(Throughput::Elements(n));
        let rt = goro::Runtime::new().unwrap();
        g.bench_function(BenchmarkId::new("goro", n), |b| {
            b.iter(|| {
                rt.block_on(move || {
                    let (tx, rx) = goro::chan::bounded::<u64>(128);
                    let per = n / producers as u64;
                    let ps: Vec<_> = (0..producers)
                        .map(|_| {
                            let tx = tx.clone();
                            goro::go(move || (0..per).for_each(|i| tx.send(i).unwrap()))
                        })
                        .collect();
                    drop(tx);
                    let cs: Vec<_> = (0..consumers)
                        .map(|_| {
                            let rx = rx.clone();
                            goro::go(move || rx.iter().sum::<u64>())
                        })
                        .collect();
                    ps.into_iter().for_each(|h| h.join().unwrap());
                    cs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
        });
        g.bench_function(BenchmarkId::new("crossbeam", n), |b| {
            b.iter(|| {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(128);
                let per = n / producers as u64;
                let ps: Vec<_> = (0..producers)
                    .map(|_| {
                        let tx = tx.clone();
                        std::thread::spawn(move || (0..per).for_each(|i| tx.send(i).unwrap()))
                    })
                    .collect();
                drop(tx);
                let cs: Vec<_> = (0..consumers)
                    .map(|_| {
                        let rx = rx.clone();
                        std::thread::spawn(move || rx.iter().sum::<u64>())
                    })
                    .collect();
                ps.into_iter().for_each(|h| h.join().unwrap());
                cs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        });
        if producers == 1 {
            g.bench_function(BenchmarkId::new("std_mpsc", n), |b| {
                b.iter(|| {
                    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(128);
                    let p = std::thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
                    let s: u64 = rx.iter().sum();
                    p.join().unwrap();
                    s
                })
            });
        }
        g.finish();
    }
}

fn select(c: &mut Criterion) {
    let mut g = c.benchmark_group("select");
    let per = 25_000u64;
    g.throughput(Throughput::Elements(4 * per));
    let rt = goro::Runtime::new().unwrap();
    g.bench_function(BenchmarkId::new("goro", 4 * per), |b| {
        b.iter(|| {
            rt.block_on(move || {
                let chans: Vec<_> = (0..4).map(|_| goro::chan::bounded::<u64>(16)).collect();
                let mut rxs = Vec::new();
                for (tx, rx) in chans {
                    goro::go(move || (0..per).for_each(|i| tx.send(i).unwrap()));
                    rxs.push(rx);
                }
                let nil = goro::chan::never::<u64>();
                let mut open = [true; 4];
                let pick = |i: usize, open: &[bool; 4]| if open[i] { &rxs[i] } else { &nil };
                let mut sum = 0;
                while open.iter().any(|o| *o) {
                    let (i, v) = goro::select! {
                        recv(pick(0, &open)) -> v => (0, v),
                        recv(pick(1, &open)) -> v => (1, v),
                        recv(pick(2, &open)) -> v => (2, v),
                        recv(pick(3, &open)) -> v => (3, v),
                    };
                    match v {
                        Ok(v) => sum += v,
                        Err(_) => open[i] = false,
                    }
                }
                sum
            })
        })
    });
    g.bench_function(BenchmarkId::new("crossbeam", 4 * per), |b| {
        b.iter(|| {
            let mut rxs = Vec::new();
            let mut ts = Vec::new();
            for _ in 0..4 {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(16);
                ts.push(std::thread::spawn(move || {
                    (0..per).for_each(|i| tx.send(i).unwrap())
                }));
                rxs.push(rx);
            }
            let nil = crossbeam_channel::never::<u64>();
            let mut open = [true; 4];
            let mut sum = 0;
            while open.iter().any(|o| *o) {
                let pick = |i: usize| if open[i] { &rxs[i] } else { &nil };
                let (i, v) = crossbeam_channel::select! {
                    recv(pick(0)) -> v => (0, v),
                    recv(pick(1)) -> v => (1, v),
                    recv(pick(2)) -> v => (2, v),
                    recv(pick(3)) -> v => (3, v),
                };
                match v {
                    Ok(v) => sum += v,
                    Err(_) => open[i] = false,
                }
            }
            ts.into_iter().for_each(|t| t.join().unwrap());
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, pingpong, spsc_mpmc, select);
criterion_main!(benches);
