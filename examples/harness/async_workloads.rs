//! The async bridge's workloads (`workloads async-bridge…`, `workloads async-pingpong…`).
//!
//! * `async-bridge N` — N green threads, each `goro::block_on`s one reqwest GET of
//!   `/delay/50` on the `http_server` example (this binary's `http-server` workload, in a
//!   child process); the client's futures run in the tokio runtime goro hosts.
//!   `async-bridge-tokio N`: the same N requests as tokio tasks (multi-thread runtime, one
//!   worker per CPU); `async-bridge-handmade N`: green threads that hand each request to
//!   tokio with `spawn` and wait on a goro channel for the answer (the bridge a user
//!   writes by hand). Each prints the wall time in ms; stderr gets the process's peak OS
//!   thread count.
//! * `async-pingpong N` — a tokio task and a green thread exchange N round trips over two
//!   unbuffered goro channels (`send_async`/`recv_async` on the task's side); prints ns
//!   per round trip. `async-pingpong-goro` does it between two green threads,
//!   `async-pingpong-tokio` between two tokio tasks over `tokio::sync::mpsc` (capacity 1).
//! * `std-echo N` / `goro-echo N` — echo with server and clients as green threads in one
//!   runtime, over `std::net` (build with `--features hook` to have it park) and over
//!   `goro::net` (`echo_inproc`).
//! * `os-read N` — a libc `read` on a plain OS thread (with `--features hook`: what the
//!   hook costs a call it passes through).
//! * `future-ready N` — the cost of `block_on` on a future that is ready at once;
//!   `future-wake N` — two green threads ping-pong through `Waker`s in `block_on`.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::bounded;

use super::report;

/// The `http_server` example (this binary's `http-server` workload) in a child process,
/// so that its 10 000 connections' descriptors do not count against this process's
/// limit; its address. The child is killed when the guard drops.
struct DelayServer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl DelayServer {
    fn start() -> DelayServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["http-server", "600"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the http-server child");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("LISTEN line");
        let addr = line
            .trim()
            .strip_prefix("LISTEN ")
            .and_then(|a| a.parse().ok())
            .expect("LISTEN <addr>");
        DelayServer { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}/delay/50", self.addr)
    }
}

impl Drop for DelayServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn threads_now() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the process's thread count every millisecond until dropped; the peak.
struct PeakThreads {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl PeakThreads {
    fn start() -> PeakThreads {
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (s, p) = (stop.clone(), peak.clone());
        let sampler = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(threads_now(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        PeakThreads {
            stop,
            peak,
            sampler: Some(sampler),
        }
    }

    /// The peak, less the sampler itself.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.take().unwrap().join().unwrap();
        self.peak.load(Ordering::Relaxed) - 1
    }
}

/// One GET; the body's length.
async fn get(client: &reqwest::Client, url: &str) -> usize {
    let r = client.get(url).send().await.expect("GET");
    r.bytes().await.expect("body").len()
}

fn bridge_report(w: &str, n: usize, start: Instant, bytes: usize, peak: PeakThreads) {
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let peak = peak.finish();
    assert_eq!(bytes, n * 13, "every response is \"Hello, World!\"");
    eprintln!("{w}: {n} requests, peak {peak} OS threads in the client process");
    report(w, ms, "ms");
}

pub(crate) fn bridge_goro(n: usize) {
    let server = DelayServer::start();
    let url = server.url();
    let peak = PeakThreads::start();
    let start = Instant::now();
    let bytes = goro::run(move || {
        let client = reqwest::Client::new();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                goro::go(move || goro::block_on(get(&client, &url)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    });
    bridge_report("async-bridge", n, start, bytes, peak);
}

pub(crate) fn bridge_tokio(n: usize) {
    let server = DelayServer::start();
    let url = server.url();
    let peak = PeakThreads::start();
    let start = Instant::now();
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let bytes = tokio_rt.block_on(async move {
        let client = reqwest::Client::new();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move { get(&client, &url).await })
            })
            .collect();
        let mut bytes = 0;
        for h in hs {
            bytes += h.await.unwrap();
        }
        bytes
    });
    bridge_report("async-bridge-tokio", n, start, bytes, peak);
}

pub(crate) fn bridge_handmade(n: usize) {
    let server = DelayServer::start();
    let url = server.url();
    let peak = PeakThreads::start();
    let start = Instant::now();
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let handle = tokio_rt.handle().clone();
    let bytes = goro::Runtime::builder()
        .tokio_handle(handle.clone())
        .build()
        .unwrap()
        .block_on(move || {
            let client = reqwest::Client::new();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (client, url, handle) = (client.clone(), url.clone(), handle.clone());
                    goro::go(move || {
                        let (tx, rx) = bounded(1);
                        handle.spawn(async move {
                            let _ = tx.try_send(get(&client, &url).await);
                        });
                        rx.recv().unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        });
    bridge_report("async-bridge-handmade", n, start, bytes, peak);
    drop(tokio_rt);
}

pub(crate) fn pingpong_tokio_green(n: usize) {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let rt = goro::Runtime::new().unwrap();
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    rt.spawn(move || {
        for v in &ping_rx {
            if pong_tx.send(v).is_err() {
                return;
            }
        }
    });
    let ns = tokio_rt.block_on(tokio_rt.spawn(async move {
        let start = Instant::now();
        for i in 0..n as u64 {
            ping_tx.send_async(i).await.unwrap();
            assert_eq!(pong_rx.recv_async().await, Ok(i));
        }
        start.elapsed().as_nanos() as f64 / n as f64
    }));
    report("async-pingpong", ns.unwrap(), "ns/rt");
}

pub(crate) fn pingpong_green_green(n: usize) {
    let ns = goro::run(move || {
        let (ping_tx, ping_rx) = bounded::<u64>(0);
        let (pong_tx, pong_rx) = bounded::<u64>(0);
        goro::go(move || {
            for v in &ping_rx {
                if pong_tx.send(v).is_err() {
                    return;
                }
            }
        });
        let start = Instant::now();
        for i in 0..n as u64 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv(), Ok(i));
        }
        start.elapsed().as_nanos() as f64 / n as f64
    });
    report("async-pingpong-goro", ns, "ns/rt");
}

pub(crate) fn pingpong_tokio_tokio(n: usize) {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let ns = tokio_rt.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n as u64 {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(i));
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .await
        .unwrap()
    });
    report("async-pingpong-tokio", ns, "ns/rt");
}

/// `future-ready N`: `goro::block_on` of a future that is ready at once, in a green
/// thread; ns per call (the waker is made, the future polled once, nothing parks).
pub(crate) fn future_ready(n: usize) {
    let ns = goro::run(move || {
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..n as u64 {
            sum += goro::block_on(std::future::ready(i));
        }
        assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
        start.elapsed().as_nanos() as f64 / n as f64
    });
    report("future-ready", ns, "ns/call");
}

/// A one-shot event with a waker slot: the smallest future a `Waker` wakes.
#[derive(Default)]
struct Event {
    state: std::sync::Mutex<(bool, Option<std::task::Waker>)>,
}

impl Event {
    fn fire(&self) {
        let w = {
            let mut s = self.state.lock().unwrap();
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    fn wait(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.state.lock().unwrap();
            if std::mem::take(&mut s.0) {
                return std::task::Poll::Ready(());
            }
            s.1 = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
    }
}

/// `future-wake N`: two green threads ping-pong N times, each waiting in `goro::block_on`
/// for an event the other fires through its `Waker`; ns per round trip (compare
/// `async-pingpong-goro`, the same over channels).
pub(crate) fn future_wake(n: usize) {
    let ns = goro::run(move || {
        let (a, b) = (Arc::new(Event::default()), Arc::new(Event::default()));
        let (a2, b2) = (a.clone(), b.clone());
        let other = goro::go(move || {
            for _ in 0..n {
                goro::block_on(b2.wait());
                a2.fire();
            }
        });
        let start = Instant::now();
        for _ in 0..n {
            b.fire();
            goro::block_on(a.wait());
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        other.join().unwrap();
        ns
    });
    report("future-wake", ns, "ns/rt");
}

/// Round trips per connection in `std-echo` / `goro-echo`.
const ECHO_ROUNDS: usize = 200;

/// `std-echo N` / `goro-echo N`: N connections, server and clients all green threads in
/// one runtime, each client making 200 round trips of 64 bytes; round trips per second.
/// `std-echo` uses `std::net` (the `hook` feature makes it park; without it every call
/// blocks a worker and relies on handoff), `goro-echo` `goro::net`.
pub(crate) fn echo_inproc<L, S>(
    w: &str,
    n: usize,
    bind: fn() -> (L, std::net::SocketAddr),
    accept: fn(&L) -> S,
    connect: fn(std::net::SocketAddr) -> S,
) where
    L: Send + 'static,
    S: std::io::Read + std::io::Write + Send + 'static,
{
    let rts = goro::run(move || {
        let (listener, addr) = bind();
        let server = goro::go(move || {
            for _ in 0..n {
                let mut s = accept(&listener);
                goro::go(move || {
                    let mut buf = [0u8; 64];
                    while s.read_exact(&mut buf).is_ok() {
                        if s.write_all(&buf).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..n)
            .map(|_| {
                goro::go(move || {
                    let mut s = connect(addr);
                    let mut buf = [7u8; 64];
                    for _ in 0..ECHO_ROUNDS {
                        s.write_all(&buf).unwrap();
                        s.read_exact(&mut buf).unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        server.join().unwrap();
        (n * ECHO_ROUNDS) as f64 / secs
    });
    report(w, rts, "rt/s");
}

pub(crate) fn std_echo(n: usize) {
    echo_inproc(
        "std-echo",
        n,
        || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            // The backlog goro's listener has (std's is 128): 5 000 clients connecting at
            // once would otherwise overflow it, and each dropped SYN waits 1 s, then 3 s,
            // for its retransmission; the run would measure that timer, not the sockets.
            // SAFETY: listen(2) on a descriptor `l` owns; a second call only resizes the
            // queue of a listening socket.
            let resized = unsafe { libc::listen(l.as_raw_fd(), i32::MAX) };
            assert_eq!(resized, 0, "{}", std::io::Error::last_os_error());
            let a = l.local_addr().unwrap();
            (l, a)
        },
        |l| {
            let (s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s
        },
        |a| {
            let s = std::net::TcpStream::connect(a).unwrap();
            s.set_nodelay(true).unwrap();
            s
        },
    );
}

pub(crate) fn goro_echo(n: usize) {
    echo_inproc(
        "goro-echo",
        n,
        || {
            let l = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        },
        |l| {
            let (s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s
        },
        |a| {
            let s = goro::net::TcpStream::connect(a).unwrap();
            s.set_nodelay(true).unwrap();
            s
        },
    );
}

/// `os-read N`: `read(2)` of one byte from `/dev/zero` on a plain OS thread, through
/// libc; ns per call. Built with `--features hook` it measures what the hook adds to a
/// call it passes through (one thread-local check).
pub(crate) fn os_read(n: usize) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open("/dev/zero").unwrap();
    let fd = f.as_raw_fd();
    let mut b = [0u8; 1];
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: reads one byte into `b` from an open descriptor.
        let r = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        assert_eq!(r, 1);
    }
    report(
        "os-read",
        start.elapsed().as_nanos() as f64 / n as f64,
        "ns/call",
    );
}
