//! TCP echo on loopback (W9's shape, smaller): a server with one task per connection and
//! `CONNS` clients making `ROUNDS` 64-byte round trips each, on goro green threads (the
//! netpoller parks them) against OS threads with `std::net` (a thread per connection on
//! both sides). Time per round trip, connection setup included.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const CONNS: usize = 32;
const ROUNDS: usize = 200;

/// One client's work, generic over the stream type (goro's and std's share the shape).
fn client<S: Read + Write>(mut s: S) {
    let mut msg = [7u8; 64];
    let mut back = [0u8; 64];
    for r in 0..ROUNDS {
        msg[0] = r as u8;
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
        assert_eq!(msg, back);
    }
}

fn serve<S: Read + Write>(mut s: S) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn goro_round(rt: &goro::Runtime) {
    rt.block_on(|| {
        let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = goro::go(move || {
            let handlers: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (s, _) = listener.accept().unwrap();
                    s.set_nodelay(true).unwrap();
                    goro::go(move || serve(s))
                })
                .collect();
            handlers.into_iter().for_each(|h| h.join().unwrap());
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|_| {
                goro::go(move || {
                    let s = goro::net::TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    client(s)
                })
            })
            .collect();
        clients.into_iter().for_each(|c| c.join().unwrap());
        server.join().unwrap();
    })
}

fn std_round() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let handlers: Vec<_> = (0..CONNS)
            .map(|_| {
                let (s, _) = listener.accept().unwrap();
                s.set_nodelay(true).unwrap();
                std::thread::spawn(move || serve(s))
            })
            .collect();
        handlers.into_iter().for_each(|h| h.join().unwrap());
    });
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                client(s)
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    server.join().unwrap();
}

fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo");
    group.sample_size(20);
    group.throughput(Throughput::Elements((CONNS * ROUNDS) as u64));
    let rt = goro::Runtime::new().unwrap();
    group.bench_function(BenchmarkId::new("goro_green", CONNS), |b| {
        b.iter(|| goro_round(&rt))
    });
    group.bench_function(BenchmarkId::new("std_threads", CONNS), |b| {
        b.iter(std_round)
    });
    group.finish();
}

criterion_group!(benches, tcp_echo);
criterion_main!(benches);
