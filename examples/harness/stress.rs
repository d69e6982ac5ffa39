//! Everything at once, counted: spawn churn with panics, channels of every capacity read
//! through `select!` with timeouts, timers and tickers, a TCP echo server under load,
//! context cancellation, and a panic in the middle of a `select`. Every message, byte,
//! panic and wake-up is counted and checked against what was sent; any mismatch exits
//! non-zero.
//!
//! ```text
//! cargo run --release --example stress            # scale 4
//! cargo run --release --example stress -- 1       # small (what the tests and valgrind run)
//! GORO_STRESS=1 cargo run --release --example stress   # scale 40
//! valgrind --fair-sched=yes --error-exitcode=99 --leak-check=full \
//!     --errors-for-leak-kinds=definite target/debug/examples/stress 1
//! ```
//!
//! The last line is how CI runs it (`.ci/run`): valgrind must report no errors and no
//! definite leaks. corosensei registers every green-thread stack with valgrind, so the
//! stack switches are not mistaken for wild stack-pointer moves.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::{bounded, Receiver, Sender};
use goro::context::{Context, ContextError};
use goro::net::{TcpListener, TcpStream};

/// A small deterministic generator, so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `100 × scale` green threads; every seventh panics. Each `join` must report exactly
/// what its green thread did.
fn spawn_churn(scale: u64) -> String {
    let n = 100 * scale;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            goro::go(move || {
                if i % 7 == 3 {
                    panic!("planned panic in green thread {i}");
                }
                if i % 5 == 0 {
                    goro::yield_now();
                }
                i * 3
            })
        })
        .collect();
    let (mut ok, mut panicked) = (0, 0);
    for (i, h) in (0..n).zip(handles) {
        match h.join() {
            Ok(v) => {
                assert_eq!(v, i * 3, "green thread {i} returned the wrong value");
                ok += 1;
            }
            Err(p) => {
                let msg = p.downcast_ref::<String>().expect("a String payload");
                assert_eq!(*msg, format!("planned panic in green thread {i}"));
                panicked += 1;
            }
        }
    }
    assert_eq!(panicked, (0..n).filter(|i| i % 7 == 3).count() as u64);
    format!("spawn: {ok} returned, {panicked} panicked as planned")
}

/// Producers on an unbuffered, a 1-slot and an 8-slot channel; consumers `select!` across
/// all three with a timeout arm. The sum and count of what arrives must equal what was
/// sent: nothing lost, nothing duplicated.
fn channels_and_select(scale: u64) -> String {
    const PRODUCERS_PER_CHANNEL: u64 = 2;
    const CONSUMERS: usize = 3;
    let per_producer = 200 * scale;
    let chans: Vec<(Sender<u64>, Receiver<u64>)> = [0, 1, 8].map(bounded).into();
    let mut producers = Vec::new();
    for (c, (tx, _)) in chans.iter().enumerate() {
        for p in 0..PRODUCERS_PER_CHANNEL {
            let tx = tx.clone();
            producers.push(goro::go(move || {
                let mut rng = XorShift(0x9E37 + c as u64 * 31 + p);
                for k in 0..per_producer {
                    if rng.below(64) == 0 {
                        goro::sleep(Duration::from_micros(rng.below(300)));
                    }
                    tx.send(k).expect("a receiver is alive");
                }
            }));
        }
    }
    let rxs: Vec<Receiver<u64>> = chans.iter().map(|(_, rx)| rx.clone()).collect();
    drop(chans); // the producers' clones are now the only senders
    let (sum, count, timeouts) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let [a, b, c] = [rxs[0].clone(), rxs[1].clone(), rxs[2].clone()];
            let (sum, count, timeouts) = (sum.clone(), count.clone(), timeouts.clone());
            goro::go(move || {
                let mut open = [true; 3];
                while open.iter().any(|o| *o) {
                    // A closed channel is always ready; swap it for one that never is.
                    let pick = |i: usize, rx: &Receiver<u64>| {
                        if open[i] {
                            rx.clone()
                        } else {
                            goro::chan::never()
                        }
                    };
                    let (ra, rb, rc) = (pick(0, &a), pick(1, &b), pick(2, &c));
                    let mut got = |i: usize, v: Result<u64, goro::chan::RecvError>| match v {
                        Ok(v) => {
                            sum.fetch_add(v, Relaxed);
                            count.fetch_add(1, Relaxed);
                        }
                        Err(_) => open[i] = false,
                    };
                    goro::select! {
                        recv(ra) -> v => got(0, v),
                        recv(rb) -> v => got(1, v),
                        recv(rc) -> v => got(2, v),
                        recv(goro::time::after(Duration::from_millis(2))) -> _ => {
                            timeouts.fetch_add(1, Relaxed);
                        },
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    for c in consumers {
        c.join().expect("consumer");
    }
    let sent = 3 * PRODUCERS_PER_CHANNEL * per_producer;
    let expected_sum = 3 * PRODUCERS_PER_CHANNEL * (per_producer * (per_producer - 1) / 2);
    assert_eq!(count.load(Relaxed), sent, "messages lost or duplicated");
    assert_eq!(sum.load(Relaxed), expected_sum, "message values corrupted");
    format!(
        "channels: {sent} messages through select, sum checked, {} timeouts fired",
        timeouts.load(Relaxed)
    )
}

/// Sleepers with random deadlines (none may wake early), plus a ticker read by one green
/// thread.
fn timers(scale: u64) -> String {
    let n = 50 * scale;
    let early = Arc::new(AtomicU64::new(0));
    let sleepers: Vec<_> = (0..n)
        .map(|i| {
            let early = early.clone();
            goro::go(move || {
                let d = Duration::from_micros(XorShift(i + 1).below(3000));
                let t = Instant::now();
                goro::sleep(d);
                if t.elapsed() < d {
                    early.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    let ticker = goro::go(|| {
        let tick = goro::time::tick(Duration::from_millis(1));
        let mut last = tick.recv().expect("tick");
        for _ in 1..5 {
            let t = tick.recv().expect("tick");
            assert!(t > last, "ticks out of order");
            last = t;
        }
        5
    });
    for s in sleepers {
        s.join().expect("sleeper");
    }
    assert_eq!(ticker.join().expect("ticker"), 5);
    assert_eq!(early.load(Relaxed), 0, "a sleeper woke before its deadline");
    format!("timers: {n} sleepers woke on time, 5 ticks read")
}

/// An echo server with a green thread per connection and `4 × scale` clients making 50
/// round trips each; every byte is checked.
fn sockets(scale: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let clients = 4 * scale;
    let server = goro::go(move || {
        let mut handlers = Vec::new();
        for _ in 0..clients {
            let (mut s, _) = listener.accept().expect("accept");
            handlers.push(goro::go(move || {
                let mut buf = [0u8; 512];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => s.write_all(&buf[..n]).expect("echo write"),
                        Err(e) => panic!("server read: {e}"),
                    }
                }
            }));
        }
        for h in handlers {
            h.join().expect("handler");
        }
    });
    let bytes = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let bytes = bytes.clone();
            goro::go(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                let mut rng = XorShift(c + 77);
                for r in 0..50u64 {
                    let len = 1 + rng.below(300) as usize;
                    let msg: Vec<u8> = (0..len).map(|i| (i as u64 + r + c) as u8).collect();
                    s.write_all(&msg).expect("client write");
                    let mut back = vec![0u8; len];
                    s.read_exact(&mut back).expect("client read");
                    assert_eq!(msg, back, "client {c} round {r}: echo corrupted");
                    bytes.fetch_add(len as u64, Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client");
    }
    server.join().expect("server");
    format!(
        "sockets: {clients} connections echoed {} bytes intact",
        bytes.load(Relaxed)
    )
}

/// A runaway green thread stopped by a context deadline, and a green thread that panics
/// inside a `select!` arm: its channel stays usable and the value it took is accounted.
fn cancellation_and_panics() -> String {
    let (ctx, _keep) = Context::background().with_timeout(Duration::from_millis(20));
    let spins = goro::go({
        let ctx = ctx.clone();
        move || {
            let mut spins = 0u64;
            loop {
                goro::select! {
                    recv(ctx.done()) -> _ => return (spins, ctx.err()),
                    default => { spins += 1; goro::yield_now(); },
                }
            }
        }
    });
    let (spins, err) = spins.join().expect("runaway");
    assert_eq!(err, Some(ContextError::DeadlineExceeded));

    let (tx, rx) = bounded::<u64>(1);
    let victim = goro::go({
        let rx = rx.clone();
        move || {
            goro::select! {
                recv(rx) -> v => panic!("panic mid-select holding {}", v.unwrap()),
                recv(goro::time::after(Duration::from_secs(10))) -> _ => unreachable!(),
            }
        }
    });
    tx.send(41).expect("send to the victim");
    let payload = victim.join().expect_err("the victim panics");
    let msg = payload.downcast_ref::<String>().expect("a String payload");
    assert_eq!(msg, "panic mid-select holding 41");
    tx.send(42).expect("the channel still works");
    assert_eq!(rx.recv(), Ok(42));
    format!("cancellation: runaway stopped after {spins} spins; a panic mid-select lost nothing")
}

/// Counts its drops: every value made must be dropped exactly once.
struct Counted(Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// `scale` runtimes, each dropped while green threads are parked in every way goro parks
/// one: recv, send (with a value), select, recv_timeout, sleep, a TCP read, accept, a
/// Mutex and `blocking`. Each holds counted values; after the drop every value made must
/// have been dropped exactly once, no stale waiter may be left in a channel, and the
/// process's fd count must be back where it started (epoll, eventfd and sockets closed).
fn dropped_runtimes(scale: u64) -> String {
    let fds_before = open_fds();
    let (made, dropped) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let count = |made: &AtomicU64| {
        made.fetch_add(1, Relaxed);
        Counted(dropped.clone())
    };
    for _ in 0..scale {
        let rt = goro::Runtime::builder().workers(2).build().unwrap();
        let (tx, rx) = bounded::<Counted>(0);
        let outside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = outside.local_addr().unwrap();
        let mutex = Arc::new(goro::sync::Mutex::new(()));
        let (held_tx, held_rx) = bounded::<()>(0);
        let parties: Vec<Box<dyn FnOnce() + Send>> = vec![
            Box::new({
                let (rx, g) = (rx.clone(), count(&made));
                move || {
                    let _g = g;
                    let _ = rx.recv();
                }
            }),
            Box::new({
                let (tx, v) = (tx.clone(), count(&made));
                move || drop(tx.send(v))
            }),
            Box::new({
                let (tx, rx, v, g) = (tx.clone(), rx.clone(), count(&made), count(&made));
                move || {
                    let _g = g;
                    goro::select! { recv(rx) -> _ => {}, send(tx, v) -> _ => {} }
                }
            }),
            Box::new({
                let (rx, g) = (rx.clone(), count(&made));
                move || {
                    let _g = g;
                    let _ = rx.recv_timeout(Duration::from_secs(60));
                }
            }),
            Box::new({
                let g = count(&made);
                move || {
                    let _g = g;
                    goro::sleep(Duration::from_secs(60));
                }
            }),
            Box::new({
                let g = count(&made);
                move || {
                    let _g = g;
                    let mut s = TcpStream::connect(addr).unwrap();
                    let _ = s.read(&mut [0; 8]);
                }
            }),
            Box::new({
                let g = count(&made);
                move || {
                    let _g = g;
                    let l = TcpListener::bind("127.0.0.1:0").unwrap();
                    let _ = l.accept();
                }
            }),
            Box::new({
                let (m, held_rx, g) = (mutex.clone(), held_rx.clone(), count(&made));
                move || {
                    let _g = g;
                    let _guard = m.lock();
                    let _ = held_rx.recv();
                }
            }),
            Box::new({
                let (m, g) = (mutex.clone(), count(&made));
                move || {
                    let _g = g;
                    goro::sleep(Duration::from_millis(5));
                    let _guard = m.lock();
                }
            }),
            Box::new({
                let g = count(&made);
                move || {
                    let _g = g;
                    goro::blocking(|| std::thread::sleep(Duration::from_millis(50)));
                }
            }),
        ];
        for p in parties {
            drop(rt.spawn(p));
        }
        let _peer = outside.accept().unwrap(); // the TCP reader is connected, then parks
        std::thread::sleep(Duration::from_millis(30));
        drop(rt);
        // No stale waiter: a receive sees nothing, a send finds nobody, the lock is free.
        assert!(
            rx.try_recv().is_err(),
            "a parked sender's value is still queued"
        );
        assert!(
            tx.try_send(count(&made)).is_err(),
            "a dead receiver is still queued"
        );
        assert!(mutex.try_lock().is_some(), "the Mutex is still held");
        drop((tx, rx, held_tx));
    }
    std::thread::sleep(Duration::from_millis(100)); // the `blocking` calls finish
    let (made, dropped) = (made.load(Relaxed), dropped.load(Relaxed));
    assert_eq!(dropped, made, "values made vs dropped");
    assert_eq!(open_fds(), fds_before, "fds leaked by dropped runtimes");
    format!("dropped runtimes: {scale} runtimes with 10 parked parties each, {made} values dropped once each, fds back to {fds_before}")
}

fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if std::env::var_os("GORO_STRESS").is_some() {
            40
        } else {
            4
        });
    // The planned panics would each print a message; keep stderr for real failures.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map_or("", String::as_str);
        if !msg.starts_with("planned panic") && !msg.starts_with("panic mid-select") {
            default_hook(info);
        }
    }));
    let start = Instant::now();
    let lines = goro::run(move || {
        // All five run at once, so they contend for the same workers, timers and poller.
        let parts = [
            goro::go(move || spawn_churn(scale)),
            goro::go(move || channels_and_select(scale)),
            goro::go(move || timers(scale)),
            goro::go(move || sockets(scale)),
            goro::go(cancellation_and_panics),
        ];
        let lines: Vec<String> = parts
            .into_iter()
            .map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        // Every green thread above has been joined; only this one is left.
        assert_eq!(goro::num_goroutines(), 1, "{}", goro::dump());
        lines
    });
    for l in lines {
        println!("{l}");
    }
    println!("{}", dropped_runtimes(scale));
    println!("stress ok at scale {scale} in {:.2?}", start.elapsed());
}
