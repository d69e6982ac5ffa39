//! Context switch: two green threads yielding on one worker, against two OS threads
//! yielding on one CPU (W6's shape).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const N: usize = 10_000;

fn yields(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield");
    group.throughput(Throughput::Elements(2 * N as u64));
    let rt = goro::Runtime::builder().workers(1).build().unwrap();
    group.bench_function(BenchmarkId::new("goro", N), |b| {
        b.iter(|| {
            rt.block_on(|| {
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        goro::go(|| {
                            for _ in 0..N {
                                goro::yield_now();
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
            })
        })
    });
    group.bench_function(BenchmarkId::new("std_thread", N), |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    std::thread::spawn(|| {
                        for _ in 0..N {
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    });
    group.finish();
}

criterion_group!(benches, yields);
criterion_main!(benches);
