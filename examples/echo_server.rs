//! A TCP echo server with one green thread per connection — the shape of Go's canonical
//! `net` server — plus a built-in load test, so one command shows it working.
//!
//! ```text
//! cargo run --release --example echo_server                 # serve + load test: 256 conns x 2000 round trips
//! cargo run --release --example echo_server -- load 64 500  # smaller load test
//! cargo run --release --example echo_server -- idle 10000   # hold 10 000 idle connections, print RSS/conn
//! cargo run --release --example echo_server -- idle-compact 10000   # the same with parked stacks compacted
//! cargo run --release --example echo_server -- serve 7878   # just serve on 127.0.0.1:7878
//! ```
//!
//! Every connection's handler is plain blocking-style code (`read`, `write_all`); when a
//! read would block, only that green thread parks on the netpoller.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use goro::net::{TcpListener, TcpStream};

/// Accepts forever, one green thread per connection. `EMFILE` and friends are logged and
/// the loop goes on (Go's `http.Server` does the same, with a back-off).
fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                goro::go(move || handle(stream));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                goro::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// One connection: wait for data with no buffer (`readable`), then read what came without
/// waiting (`try_read`) into a buffer borrowed for the burst and echo it. An idle connection's green thread is parked one stack
/// page deep, and the 4 KiB buffers exist only for connections with data in flight.
fn handle(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    while stream.readable().is_ok() {
        let mut buf = take_buffer();
        let echoed = match stream.try_read(&mut buf[..]) {
            // The readiness was stale (data already read): give the buffer back, wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Ok(0) | Err(_) => false, // EOF or reset: the green thread ends, the fd closes
            Ok(n) => stream.write_all(&buf[..n]).is_ok(),
        };
        give_back(buf);
        if !echoed {
            return;
        }
    }
}

type Buffer = Box<[u8; 4096]>;

thread_local! {
    /// One spare read buffer per worker thread: a burst on a connection takes it and
    /// gives it back, so a busy worker reuses one buffer.
    static SPARE: std::cell::Cell<Option<Buffer>> = const { std::cell::Cell::new(None) };
}

// Not inlined: the burst parks (in `write_all`) between the take and the give-back and
// may resume on another worker thread, and a compiler may keep a thread-local's address
// for a whole function (docs ch.9). Each call finds its own thread's slot.
#[inline(never)]
fn take_buffer() -> Buffer {
    SPARE
        .with(|s| s.take())
        .unwrap_or_else(|| Box::new([0; 4096]))
}

#[inline(never)]
fn give_back(buf: Buffer) {
    SPARE.with(|s| s.set(Some(buf)));
}

/// `conns` client green threads each make `rounds` 64-byte round trips; every byte is
/// checked and counted.
fn load(conns: usize, rounds: usize) {
    goro::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        goro::go(move || serve(listener));
        let bytes = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let clients: Vec<_> = (0..conns)
            .map(|c| {
                let bytes = bytes.clone();
                goro::go(move || {
                    let mut s = TcpStream::connect(addr).expect("connect");
                    s.set_nodelay(true).unwrap();
                    let mut msg = [0u8; 64];
                    let mut back = [0u8; 64];
                    for r in 0..rounds {
                        msg.fill((c + r) as u8);
                        s.write_all(&msg).unwrap();
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(msg, back, "connection {c} round {r} corrupted");
                        bytes.fetch_add(64, Relaxed);
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client failed");
        }
        let secs = start.elapsed().as_secs_f64();
        let total = bytes.load(Relaxed);
        let expected = (conns * rounds * 64) as u64;
        assert_eq!(total, expected, "bytes lost");
        println!(
            "echoed {total} bytes over {conns} connections x {rounds} round trips: {:.0} round trips/s",
            (conns * rounds) as f64 / secs
        );
    });
}

/// Resident memory plus page tables (`VmRSS + VmPTE`): what a connection really costs.
fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> usize {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:") + kib("VmPTE:")) * 1024
}

/// Raises the soft open-file limit as far as the hard limit allows.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let hard = lim.rlim_max;
        // Raising the hard limit needs privilege; fall back to the soft limit = hard.
        lim.rlim_cur = want.max(lim.rlim_cur);
        lim.rlim_max = want.max(hard);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            lim.rlim_cur = want.min(hard);
            lim.rlim_max = hard;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Holds `n` idle connections, each with a server green thread parked in `read`, and
/// reports the server's memory per connection. The client ends live in a child process
/// (this program in `idle-clients` mode), so the server holds only its own `n` sockets.
/// `compact`: with `Builder::compact_parked_stacks` (after 100 ms), measured once every
/// parked connection's stack is compacted.
fn idle(n: usize, compact: bool) {
    raise_nofile(n as u64 + 100);
    let mut b = goro::Runtime::builder().detect_deadlocks(true);
    if compact {
        // SAFETY: no green thread here lends its stack to another thread.
        b = unsafe { b.compact_parked_stacks(std::time::Duration::from_millis(100)) };
    }
    let rt = b.build().expect("runtime");
    rt.block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let before = rss_bytes();
        goro::go(move || serve(listener));
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["idle-clients", &addr.to_string(), &n.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the client process");
        let mut child_in = child.stdin.take().unwrap();
        let child_out = child.stdout.take().unwrap();
        // Blocking pipe reads: the worker hands its processor off first (goro::blocking).
        let (lines, child_out) = goro::blocking(move || {
            use std::io::BufRead;
            let mut r = std::io::BufReader::new(child_out);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            (line, r)
        });
        assert!(lines.starts_with("CONNECTED"), "client process: {lines:?}");
        while goro::num_goroutines() < n + 2 {
            goro::sleep(std::time::Duration::from_millis(1));
        }
        goro::sleep(std::time::Duration::from_millis(50));
        let start = std::time::Instant::now();
        while compact && start.elapsed().as_secs() < 30 {
            let m = goro::metrics().expect("inside the runtime");
            if m.compacted_stacks >= n {
                println!(
                    "{} stacks compacted ({} B of copies each)",
                    m.compacted_stacks,
                    m.compacted_stack_bytes / m.compacted_stacks
                );
                break;
            }
            goro::sleep(std::time::Duration::from_millis(20));
        }
        let after = rss_bytes();
        println!(
            "holding {n} idle connections ({} green threads): server RSS + page tables +{} KiB = {} B per connection",
            goro::num_goroutines(),
            (after - before) / 1024,
            (after - before) / n
        );
        child_in.write_all(b"go\n").unwrap(); // the clients now check every connection
        let last = goro::blocking(move || {
            use std::io::BufRead;
            let mut r = child_out;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            line
        });
        print!("{last}");
        assert!(child.wait().unwrap().success());
    });
}

/// The client side of `idle`: `n` connections from one OS thread (plain blocking use of
/// goro's `TcpStream` outside any runtime).
fn idle_clients(addr: &str, n: usize) {
    raise_nofile(n as u64 + 100);
    let mut clients: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    println!("CONNECTED {n}");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    for c in &mut clients {
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
    }
    println!("all {n} connections still echo");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        None => load(256, 2000),
        Some("load") => load(num(1, 256), num(2, 2000)),
        Some("idle") => idle(num(1, 10_000), false),
        Some("idle-compact") => idle(num(1, 10_000), true),
        Some("idle-clients") => idle_clients(&args[1], num(2, 0)),
        Some("serve") => {
            let port = num(1, 7878);
            goro::run(move || {
                let listener = TcpListener::bind(("127.0.0.1", port as u16)).expect("bind");
                println!("echo server on {}", listener.local_addr().unwrap());
                serve(listener);
            })
        }
        Some(other) => {
            eprintln!("unknown mode {other:?}: use load [conns rounds] | idle [n] | idle-compact [n] | serve [port]");
            std::process::exit(2);
        }
    }
}
