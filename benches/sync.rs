//! goro::sync on green threads against std's on OS threads: uncontended and contended
//! Mutex, WaitGroup fan-out/fan-in.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const OPS: usize = 10_000;
const PARTIES: usize = 4;
const FAN: usize = 1000;

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_uncontended");
    group.throughput(Throughput::Elements(1));
    let m = goro::sync::Mutex::new(0u64);
    group.bench_function("goro", |b| b.iter(|| *black_box(&m).lock() += 1));
    let m = std::sync::Mutex::new(0u64);
    group.bench_function("std", |b| b.iter(|| *black_box(&m).lock().unwrap() += 1));
    group.finish();
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_contended");
    group.throughput(Throughput::Elements((OPS * PARTIES) as u64));
    let rt = goro::Runtime::new().unwrap();
    group.bench_function(BenchmarkId::new("goro_green", PARTIES), |b| {
        b.iter(|| {
            rt.block_on(|| {
                let m = Arc::new(goro::sync::Mutex::new(0usize));
                let hs: Vec<_> = (0..PARTIES)
                    .map(|_| {
                        let m = m.clone();
                        goro::go(move || {
                            for _ in 0..OPS {
                                *m.lock() += 1;
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
                let v = *m.lock();
                assert_eq!(v, OPS * PARTIES);
            })
        })
    });
    group.bench_function(BenchmarkId::new("std_threads", PARTIES), |b| {
        b.iter(|| {
            let m = Arc::new(std::sync::Mutex::new(0usize));
            let hs: Vec<_> = (0..PARTIES)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for _ in 0..OPS {
                            *m.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            assert_eq!(*m.lock().unwrap(), OPS * PARTIES);
        })
    });
    group.finish();
}

fn waitgroup(c: &mut Criterion) {
    let mut group = c.benchmark_group("waitgroup_fan_out_in");
    group.throughput(Throughput::Elements(FAN as u64));
    let rt = goro::Runtime::new().unwrap();
    group.bench_function(BenchmarkId::new("goro_green", FAN), |b| {
        b.iter(|| {
            rt.block_on(|| {
                let wg = goro::sync::WaitGroup::new();
                for _ in 0..FAN {
                    wg.add(1);
                    let wg = wg.clone();
                    goro::go(move || wg.done());
                }
                wg.wait();
            })
        })
    });
    group.bench_function(BenchmarkId::new("std_threads", FAN), |b| {
        b.iter(|| {
            let wg = crossbeam_utils::sync::WaitGroup::new();
            for _ in 0..FAN {
                let wg = wg.clone();
                std::thread::spawn(move || drop(wg));
            }
            wg.wait();
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contended, waitgroup);
criterion_main!(benches);
