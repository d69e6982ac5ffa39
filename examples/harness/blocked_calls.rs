//! Blocked calls at scale: N green threads each make one request to a server that answers
//! after 50 ms, four ways, and the table says how long each took and how many OS threads
//! the client needed.
//!
//! * `direct` — `std::net::TcpStream` called straight from the green thread: each call
//!   blocks its worker thread, and sysmon hands the processor to another thread (processor
//!   handoff, `runtime/src/scheduler/handoff.rs`);
//! * `blocking` — the same std calls inside `goro::blocking`, which hands the processor off
//!   before the call;
//! * `goro::net` — `goro::net::TcpStream`: the green thread parks on the netpoller and no
//!   thread blocks;
//! * `threads` — a pool of 512 OS threads making the same std calls;
//! * `ureq` — a sync HTTP client crate (std::net underneath), called straight from the
//!   green thread.
//!
//! Built with `--features hook`, the std calls of `direct` and `ureq` park the green
//! thread on the netpoller instead of blocking its worker (docs ch.14); the table's title
//! says which build ran.
//!
//! The server is a goro runtime of its own in this process (one worker, `goro::net`). The
//! "peak threads" column is the client runtime's worker threads (`Metrics::worker_threads`;
//! for `threads`, the pool), sampled every millisecond; "after 15 s" is the same count
//! 15 s after the run (idle spares exit after 10 s), with `--settle`; "SYNs dropped" counts
//! connections the kernel dropped meanwhile because the server's listen queue was full
//! (each waits a second for its SYN to be sent again: such a run is the kernel's timing).
//!
//! `cargo run --release --example blocked_calls -- [N] [--settle] [--only MODE]`

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPLY_AFTER: Duration = Duration::from_millis(50);
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
const POOL_THREADS: usize = 512;

/// Reads one request head, waits 50 ms, answers and closes.
fn serve(mut c: goro::net::TcpStream) {
    let mut buf = [0u8; 256];
    let mut seen = 0;
    while !buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf[seen..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen += n,
        }
        if seen == buf.len() {
            return;
        }
    }
    goro::sleep(REPLY_AFTER);
    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

/// Starts the server runtime; returns its address and the runtime (dropped at exit).
fn server() -> (std::net::SocketAddr, goro::Runtime) {
    let rt = goro::Runtime::builder()
        .workers(1)
        .build()
        .expect("server runtime");
    let ln = rt
        .block_on(|| goro::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = ln.local_addr().unwrap();
    rt.spawn(move || {
        for c in ln.incoming().flatten() {
            goro::go(move || serve(c));
        }
    });
    (addr, rt)
}

/// One request on a connected socket, std's or goro's; returns the reply's length.
fn request(mut s: impl Read + Write) -> usize {
    s.write_all(REQUEST).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply.len()
}

/// One request with std's blocking socket.
fn std_request(addr: std::net::SocketAddr) -> usize {
    request(std::net::TcpStream::connect(addr).expect("connect"))
}

/// The same with ureq, through one agent shared by every green thread, as a program
/// would (the server closes each connection after answering).
fn ureq_request(addr: std::net::SocketAddr) -> usize {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(ureq::Agent::new);
    let r = agent.get(&format!("http://{addr}/")).call().expect("GET");
    r.into_string().expect("body").len()
}

/// The same with goro::net.
fn goro_request(addr: std::net::SocketAddr) -> usize {
    request(goro::net::TcpStream::connect(addr).expect("connect"))
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Direct,
    Blocking,
    GoroNet,
    Threads,
    Ureq,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct (std::net)",
            Mode::Blocking => "goro::blocking(std::net)",
            Mode::GoroNet => "goro::net",
            Mode::Threads => "thread pool (512)",
            Mode::Ureq => "ureq, direct",
        }
    }
}

/// The kernel's count of connections dropped because a listen queue was full
/// (`ListenOverflows` in `/proc/net/netstat`; 0 if it cannot be read). A dropped SYN is
/// sent again after a second, so a run that overflowed the server's backlog (4 096 on a
/// default `net.core.somaxconn`) measures the kernel's retransmission timer, not the
/// client: the table says when that happened.
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Samples `count` every millisecond until `stop`; returns the peak.
fn sample_peak(
    count: impl Fn() -> usize + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(count());
            std::thread::sleep(Duration::from_millis(1));
        }
        peak
    })
}

/// Runs `n` requests in `mode`; returns (elapsed, peak threads, threads after 15 s).
fn measure(
    mode: Mode,
    n: usize,
    addr: std::net::SocketAddr,
    settle: bool,
) -> (Duration, usize, Option<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    if mode == Mode::Threads {
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let peak = sample_peak(|| POOL_THREADS, stop.clone());
        let pool: Vec<_> = (0..POOL_THREADS)
            .map(|_| {
                let next = next.clone();
                std::thread::spawn(move || {
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        assert!(std_request(addr) > 0);
                    }
                })
            })
            .collect();
        pool.into_iter().for_each(|h| h.join().unwrap());
        let elapsed = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        return (elapsed, peak.join().unwrap(), None);
    }
    let rt = Arc::new(goro::Runtime::builder().build().expect("client runtime"));
    let r = rt.clone();
    let peak = sample_peak(move || r.metrics().worker_threads, stop.clone());
    let t = Instant::now();
    rt.block_on(move || {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                goro::go(move || match mode {
                    Mode::Direct => std_request(addr),
                    Mode::Blocking => goro::blocking(|| std_request(addr)),
                    Mode::Ureq => ureq_request(addr),
                    _ => goro_request(addr),
                })
            })
            .collect();
        for h in hs {
            assert!(h.join().unwrap() > 0);
        }
    });
    let elapsed = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let after = settle.then(|| {
        std::thread::sleep(Duration::from_secs(15));
        rt.metrics().worker_threads
    });
    (elapsed, peak, after)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000usize);
    let settle = args.iter().any(|a| a == "--settle");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let (addr, _server) = server();
    let processors = goro::Runtime::builder()
        .build()
        .unwrap()
        .metrics()
        .processors;
    let build = if cfg!(feature = "hook") {
        "built with the hook feature"
    } else {
        "built without the hook feature"
    };
    println!(
        "{n} requests, server answers after {REPLY_AFTER:?}; client runtime: {processors} processors; {build}"
    );
    println!("| client | time | peak threads | after 15 s | SYNs dropped |");
    println!("|---|---:|---:|---:|---:|");
    for mode in [
        Mode::Direct,
        Mode::Blocking,
        Mode::GoroNet,
        Mode::Threads,
        Mode::Ureq,
    ] {
        if only.as_deref().is_some_and(|o| !mode.name().starts_with(o)) {
            continue;
        }
        let dropped = listen_overflows();
        let (elapsed, peak, after) = measure(mode, n, addr, settle);
        let dropped = listen_overflows().saturating_sub(dropped);
        let after = after.map_or("-".to_string(), |a| a.to_string());
        println!(
            "| {} | {:.2} s | {peak} | {after} | {dropped} |",
            mode.name(),
            elapsed.as_secs_f64()
        );
    }
}
