//! The standard workloads W1–W9 of `../shared/anchors` (see its README), so that
//! `../shared/anchors/run.sh --goro .` runs goro beside Go, tokio and may in one matrix.
//!
//! Usage: `workloads <workload> <n>`; prints one line `<workload> goro <value> <unit>`.
//! The servers (`echo-server`, `kv-server`, `http-server <secs>`) print `LISTEN <addr>`
//! and serve until `secs` have passed; the anchors' real clients measure them. The kv and
//! http servers are the `kv_server` and `http_server` examples' own code (the
//! `goro-servers` crate, `examples/servers/`); `GORO_KV_STORE=owner` picks the kv server's
//! owner-green-thread store (default: shared).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::{bounded, Receiver};

use goro_servers::support::accept::accept_loop;
use goro_servers::{http, kv};

#[path = "async_workloads.rs"]
mod async_workloads;

fn report(w: &str, v: f64, unit: &str) {
    println!("{w} goro {v:.1} {unit}");
}

/// With `GORO_WORKLOAD_METRICS` set, prints the runtime's counters to stderr (call from
/// inside the runtime, at the end of a workload): parks, steals and resumes per message
/// explain most differences between runs.
fn show_metrics(w: &str) {
    if std::env::var_os("GORO_WORKLOAD_METRICS").is_some() {
        eprintln!("{w}: {:#?}", goro::metrics());
    }
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
    status_bytes("VmRSS:")
}

/// Page-table memory (`VmPTE`): what a stack reservation costs beyond its resident pages.
fn pte() -> usize {
    status_bytes("VmPTE:")
}

fn status_bytes(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
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

/// Spawns `n` green threads that each park receiving from `rx`, and returns once all have
/// started (W7 and the cold-spawn/teardown figures).
fn park_on(n: usize, rx: &Receiver<()>) -> Vec<goro::JoinHandle<()>> {
    let started = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let (rx, s) = (rx.clone(), started.clone());
            goro::go(move || {
                s.fetch_add(1, Ordering::Relaxed);
                let _ = rx.recv();
            })
        })
        .collect();
    while started.load(Ordering::Relaxed) < n {
        goro::yield_now();
    }
    hs
}

/// W7: n green threads parked at once on one channel; RSS growth per green thread.
/// `compact`: with `Builder::compact_parked_stacks` (after 50 ms), measured once sysmon
/// has compacted every parked stack.
fn memory(n: usize, compact: bool) {
    let mut b = goro::Runtime::builder();
    if compact {
        // SAFETY: the parked green threads lend their stacks to nobody.
        b = unsafe { b.compact_parked_stacks(Duration::from_millis(50)) };
    }
    let rt = b.build().unwrap();
    let (gate_tx, gate_rx) = bounded::<()>(0);
    let (before, pte_before) = (rss(), pte());
    let hs = rt.block_on(move || park_on(n, &gate_rx));
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    while compact && rt.metrics().compacted_stacks < n && start.elapsed().as_secs() < 30 {
        std::thread::sleep(Duration::from_millis(10));
    }
    if compact {
        eprintln!(
            "memory goro: {} stacks compacted in {:?} after the 200 ms, copies {} B each",
            rt.metrics().compacted_stacks,
            start.elapsed(),
            rt.metrics().compacted_stack_bytes / n.max(1)
        );
    }
    let (after, pte_after) = (rss(), pte());
    let maps = map_count();
    let woken = Instant::now();
    drop(gate_tx); // close: every parked receiver wakes
    for h in hs {
        h.join().unwrap();
    }
    eprintln!(
        "memory goro: all {n} woken and joined in {:?} ({:.0} ns each)",
        woken.elapsed(),
        woken.elapsed().as_nanos() as f64 / n as f64
    );
    eprintln!(
        "memory goro: rss before={before} after={after} n={n} maps={maps} page tables +{} B per green thread (stack reservation 256 KiB, committed on touch)",
        pte_after.saturating_sub(pte_before) / n
    );
    let name = if compact { "memory-compact" } else { "memory" };
    report(name, (after - before) as f64 / n as f64, "B/task");
}

/// `goro::blocking` round trips: 4 green threads each make `n / 4` calls of a short
/// blocking system call (`getppid` through `std::process`, a stand-in for a quick file
/// operation): ns per call, the cost of handing the processor off and back.
fn blocking(n: usize) {
    let ns = goro::run(move || {
        let callers = 4;
        let per = n / callers;
        let start = Instant::now();
        let hs: Vec<_> = (0..callers)
            .map(|_| {
                goro::go(move || {
                    (0..per)
                        .map(|_| goro::blocking(std::os::unix::process::parent_id))
                        .fold(0u64, |a, p| a + u64::from(p != 0))
                })
            })
            .collect();
        let calls: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        if calls != (per * callers) as u64 {
            die("blocking: lost calls");
        }
        show_metrics("blocking");
        ns_per(start, per * callers)
    });
    report("blocking", ns, "ns/call");
}

fn ns_per(t: Instant, n: usize) -> f64 {
    t.elapsed().as_nanos() as f64 / n as f64
}

/// W2: round trips over two unbuffered channels.
fn pingpong(rounds: usize) {
    let ns = goro::run(move || {
        let (a_tx, a_rx) = bounded::<usize>(0);
        let (b_tx, b_rx) = bounded::<usize>(0);
        goro::go(move || {
            for v in &a_rx {
                b_tx.send(v + 1).unwrap();
            }
        });
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..rounds {
            a_tx.send(v).unwrap();
            v = b_rx.recv().unwrap();
        }
        if v != rounds {
            die("pingpong: bad value");
        }
        ns_per(start, rounds)
    });
    report("pingpong", ns, "ns/rt");
}

/// W3: one producer, one consumer, capacity 128.
fn spsc(n: usize) {
    let ns = goro::run(move || {
        let (tx, rx) = bounded::<u64>(128);
        let start = Instant::now();
        goro::go(move || (0..n as u64).for_each(|i| tx.send(i).unwrap()));
        let sum: u64 = rx.iter().sum();
        if sum != n as u64 * (n as u64 - 1) / 2 {
            die("spsc: bad sum");
        }
        ns_per(start, n)
    });
    report("spsc", ns, "ns/msg");
}

/// W4: 4 producers, 4 consumers, one capacity-128 channel.
fn mpmc(n: usize) {
    let ns = goro::run(move || {
        let per = n / 4;
        let (tx, rx) = bounded::<u64>(128);
        let start = Instant::now();
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                goro::go(move || (0..per as u64).for_each(|i| tx.send(p * per as u64 + i).unwrap()))
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                goro::go(move || rx.iter().sum::<u64>())
            })
            .collect();
        producers.into_iter().for_each(|h| h.join().unwrap());
        let total: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
        let m = (per * 4) as u64;
        if total != m * (m - 1) / 2 {
            die("mpmc: bad total");
        }
        ns_per(start, per * 4)
    });
    report("mpmc", ns, "ns/msg");
}

/// Cold spawn and teardown (issue 18): `n` green threads that park on one channel, on a
/// fresh runtime (no recycled stacks); then the channel closes and all are waited for.
/// The same program as the anchors' Go one: `go func() { <-ch; wg.Done() }()` with a
/// `WaitGroup`, the spawner polling a counter until every one has started. Prints
/// `cold-spawn` (spawn until every one is parked) or `teardown` (close and wait), in ns
/// per green thread, and the mappings and RSS before and after on stderr.
fn cold(n: usize, report_teardown: bool) {
    let rt = goro::Runtime::new().unwrap();
    let (maps0, rss0) = (map_count(), rss());
    let (spawn_ns, teardown_ns, maps1, rss1) = rt.block_on(move || {
        let (tx, rx) = bounded::<()>(0);
        let wg = goro::sync::WaitGroup::new();
        let started = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        for _ in 0..n {
            wg.add(1);
            let (rx, wg, s) = (rx.clone(), wg.clone(), started.clone());
            drop(goro::go(move || {
                s.fetch_add(1, Ordering::Relaxed);
                let _ = rx.recv();
                wg.done();
            }));
        }
        while started.load(Ordering::Relaxed) < n {
            goro::yield_now();
        }
        let spawn_ns = ns_per(start, n);
        let (maps1, rss1) = (map_count(), rss());
        // Teardown from a green thread, as Go's from a goroutine: close, wait for them all.
        let start = Instant::now();
        drop((tx, rx));
        wg.wait();
        (spawn_ns, ns_per(start, n), maps1, rss1)
    });
    std::thread::sleep(Duration::from_millis(100));
    let rss_100ms = rss();
    std::thread::sleep(Duration::from_millis(900));
    eprintln!(
        "cold goro: n={n} maps {maps0}->{maps1} rss {rss0}->{rss1} after teardown: rss={rss_100ms} at 0.1 s, {} at 1 s",
        rss()
    );
    if report_teardown {
        report("teardown", teardown_ns, "ns/task");
    } else {
        report("cold-spawn", spawn_ns, "ns/task");
    }
}

/// W5: one consumer selects over 4 capacity-16 channels, each fed by its own producer.
fn select(per: usize) {
    let ns = goro::run(move || {
        let chans: Vec<_> = (0..4).map(|_| bounded::<u64>(16)).collect();
        let start = Instant::now();
        let mut rxs: Vec<Receiver<u64>> = Vec::new();
        for (tx, rx) in chans {
            goro::go(move || (0..per as u64).for_each(|j| tx.send(j).unwrap()));
            rxs.push(rx);
        }
        let nil = goro::chan::never::<u64>();
        let mut open = [true; 4];
        let (mut sum, mut count) = (0u64, 0usize);
        let pick = |i: usize, open: &[bool; 4]| if open[i] { &rxs[i] } else { &nil };
        while open.iter().any(|o| *o) {
            let (i, v) = goro::select! {
                recv(pick(0, &open)) -> v => (0, v),
                recv(pick(1, &open)) -> v => (1, v),
                recv(pick(2, &open)) -> v => (2, v),
                recv(pick(3, &open)) -> v => (3, v),
            };
            match v {
                Ok(v) => {
                    sum += v;
                    count += 1;
                }
                Err(_) => open[i] = false,
            }
        }
        show_metrics("select");
        let p = per as u64;
        if count != 4 * per || sum != 4 * (p * (p - 1) / 2) {
            die("select: bad count/sum");
        }
        ns_per(start, count)
    });
    report("select", ns, "ns/msg");
}

/// W8: the concurrent prime sieve (a daisy chain of unbuffered channels).
fn sieve(nth: usize) {
    let (ms, prime) = goro::run(move || {
        let start = Instant::now();
        let (tx, mut rx) = bounded::<u64>(0);
        goro::go(move || {
            let mut i = 2;
            while tx.send(i).is_ok() {
                i += 1;
            }
        });
        let mut prime = 0;
        for _ in 0..nth {
            prime = rx.recv().unwrap();
            let (tx1, rx1) = bounded::<u64>(0);
            let input = std::mem::replace(&mut rx, rx1);
            goro::go(move || {
                for v in &input {
                    if v % prime != 0 && tx1.send(v).is_err() {
                        return;
                    }
                }
            });
        }
        (start.elapsed().as_secs_f64() * 1e3, prime)
    });
    eprintln!("sieve goro: prime #{nth} = {prime}");
    report("sieve", ms, "ms");
}

/// W9: TCP echo on 127.0.0.1, a green thread per connection, TCP_NODELAY; exits after
/// `secs` (the load generator is the Go anchor's `echo-client`).
fn echo_server(secs: usize) {
    exit_after(secs);
    goro::run(|| {
        let listener = listen();
        loop {
            let Ok((mut s, _)) = listener.accept() else {
                continue;
            };
            let _ = s.set_nodelay(true);
            goro::go(move || {
                use std::io::{Read, Write};
                let mut buf = vec![0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

/// Exits the process after `secs` (run.sh also kills the server by PID).
fn exit_after(secs: usize) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs as u64));
        // `exit` runs no destructors: write the trace (`GORO_TRACE`) first.
        if goro::trace::is_recording() {
            match goro::trace::stop() {
                Ok(n) => eprintln!("trace: {n} events"),
                Err(e) => eprintln!("trace: {e}"),
            }
        }
        std::process::exit(0);
    });
}

/// Binds 127.0.0.1:0 and prints the `LISTEN` line run.sh waits for.
fn listen() -> goro::net::TcpListener {
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("LISTEN {}", listener.local_addr().unwrap());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    listener
}

/// W10: the `kv_server` example (RESP2, a green thread per connection).
fn kv_server(secs: usize) {
    exit_after(secs);
    let shape = std::env::var("GORO_KV_STORE").unwrap_or_else(|_| "shared".into());
    goro::run(move || {
        let backend =
            kv::Store::start(&shape).unwrap_or_else(|| die("GORO_KV_STORE: owner|shared"));
        let listener = listen();
        accept_loop(&listener, |stream, _| {
            let backend = backend.clone();
            goro::go(move || kv::serve_connection(stream, &backend));
        });
    })
}

/// W11: the `http_server` example (HTTP/1.1 keep-alive, a green thread per connection).
fn http_server(secs: usize) {
    exit_after(secs);
    goro::run(|| {
        let listener = listen();
        accept_loop(&listener, |stream, _| {
            goro::go(move || http::serve_connection(stream, http::Timeouts::default()));
        });
    })
}

/// Writes the execution trace at exit, if one was started.
struct Defer(bool);

impl Drop for Defer {
    fn drop(&mut self) {
        if self.0 {
            let n = goro::trace::stop().expect("trace");
            eprintln!("trace: {n} events");
        }
    }
}

/// Built with `--features tracing` and run with `GORO_TRACING=1`: a `tracing` subscriber
/// (the bare registry, no output) is the global default, so every switch pays what the
/// tracing bridge costs with a subscriber (docs ch.8).
#[cfg(feature = "tracing")]
fn install_tracing() {
    if std::env::var_os("GORO_TRACING").is_some() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
        tracing::subscriber::set_global_default(subscriber).expect("a subscriber");
    }
}

fn main() {
    #[cfg(feature = "tracing")]
    install_tracing();
    // `GORO_TRACE=file`: the run under the execution trace (`goro::trace`), written at exit.
    let trace = std::env::var_os("GORO_TRACE");
    if let Some(path) = &trace {
        goro::trace::start(path).expect("trace");
    }
    let _written = Defer(trace.is_some());
    let args: Vec<String> = std::env::args().collect();
    let w = args.get(1).map(String::as_str).unwrap_or("");
    let n = |d: usize| {
        args.get(2)
            .map_or(d, |s| s.parse().unwrap_or_else(|_| die("bad n")))
    };
    match w {
        "spawn" => spawn(n(200_000)),
        "yield" => yield_(n(1_000_000)),
        "memory" => memory(n(100_000), false),
        "memory-compact" => memory(n(100_000), true),
        "cold-spawn" => cold(n(100_000), false),
        "teardown" => cold(n(100_000), true),
        "pingpong" => pingpong(n(500_000)),
        "spsc" => spsc(n(5_000_000)),
        "mpmc" => mpmc(n(4_000_000)),
        "select" => select(n(1_000_000)),
        "sieve" => sieve(n(3000)),
        "blocking" => blocking(n(100_000)),
        "echo-server" => echo_server(n(120)),
        "kv-server" => kv_server(n(60)),
        "http-server" => http_server(n(60)),
        "async-bridge" => async_workloads::bridge_goro(n(10_000)),
        "async-bridge-tokio" => async_workloads::bridge_tokio(n(10_000)),
        "async-bridge-handmade" => async_workloads::bridge_handmade(n(10_000)),
        "async-pingpong" => async_workloads::pingpong_tokio_green(n(200_000)),
        "async-pingpong-goro" => async_workloads::pingpong_green_green(n(200_000)),
        "async-pingpong-tokio" => async_workloads::pingpong_tokio_tokio(n(200_000)),
        "future-ready" => async_workloads::future_ready(n(10_000_000)),
        "future-wake" => async_workloads::future_wake(n(500_000)),
        "std-echo" => async_workloads::std_echo(n(5000)),
        "goro-echo" => async_workloads::goro_echo(n(5000)),
        "os-read" => async_workloads::os_read(n(2_000_000)),
        _ => die(
            "usage: workloads <spawn|pingpong|spsc|mpmc|select|yield|memory|cold-spawn|teardown|sieve|blocking|echo-server|kv-server|http-server|async-bridge[-tokio|-handmade]|async-pingpong[-goro|-tokio]|future-ready|future-wake|std-echo|goro-echo|os-read> [n]",
        ),
    }
}
