//! Spawn + join: goro green threads against std OS threads (W1's shape).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const N: usize = 1000;

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.throughput(Throughput::Elements(N as u64));
    let rt = goro::Runtime::new().unwrap();
    group.bench_function(BenchmarkId::new("goro", N), |b| {
        b.iter(|| {
            rt.block_on(|| {
                let hs: Vec<_> = (0..N).map(|i| goro::go(move || i)).collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            })
        })
    });
    group.bench_function(BenchmarkId::new("std_thread", N), |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..N).map(|i| std::thread::spawn(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);
