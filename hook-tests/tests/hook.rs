//! The `hook` feature: blocking `std` socket calls and sleeps made from green threads park
//! only the green thread. Most runtimes here have one worker and no spare threads
//! (`max_threads(1)`), so a call that blocked its thread would stall everything — each
//! test would hang instead of pass.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One worker, no handoff: only parking can keep other green threads running.
fn one_worker() -> goro::Runtime {
    goro::Runtime::builder()
        .workers(1)
        .max_threads(1)
        .build()
        .unwrap()
}

fn flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL on an open descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

#[test]
fn std_tcp_read_write_accept_connect_park_the_green_thread() {
    let rt = one_worker();
    let total = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = goro::go(move || {
            let mut conns = Vec::new();
            for _ in 0..20 {
                let (mut s, _) = listener.accept().unwrap(); // parks
                conns.push(goro::go(move || {
                    let mut buf = [0u8; 8];
                    s.read_exact(&mut buf).unwrap(); // parks
                    s.write_all(&buf).unwrap();
                }));
            }
            for c in conns {
                c.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                goro::go(move || {
                    let mut s = TcpStream::connect(addr).unwrap(); // parks
                    assert_eq!(flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0, "still blocking");
                    goro::sleep(Duration::from_millis(5)); // the server's reads wait meanwhile
                    s.write_all(&[i; 8]).unwrap();
                    let mut buf = [0u8; 8];
                    s.read_exact(&mut buf).unwrap();
                    assert_eq!(buf, [i; 8]);
                    buf[0] as usize
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    assert_eq!(total, (0..20).sum());
    assert_eq!(rt.metrics().handoffs, 0, "nothing blocked a thread");
}

#[test]
fn std_thread_sleep_is_goro_sleep_in_green_threads() {
    let rt = one_worker();
    let t = Instant::now();
    rt.block_on(|| {
        let hs: Vec<_> = (0..200)
            .map(|_| goro::go(|| std::thread::sleep(Duration::from_millis(50))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(50));
    assert!(
        took < Duration::from_secs(5),
        "200 sleeps overlapped: {took:?}"
    );
    // Off a green thread it is the plain call.
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn read_timeouts_give_std_results_after_the_same_time() {
    let rt = one_worker();
    rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let c = goro::go(move || TcpStream::connect(addr).unwrap());
        let (_server_side, _) = listener.accept().unwrap();
        let mut s = c.join().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let ticker = Arc::new(AtomicUsize::new(0));
        let t2 = ticker.clone();
        let ticks = goro::go(move || {
            for _ in 0..5 {
                goro::sleep(Duration::from_millis(10));
                t2.fetch_add(1, Ordering::Relaxed);
            }
        });
        let t = Instant::now();
        let e = s.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::WouldBlock,
            "std's kind for SO_RCVTIMEO"
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        ticks.join().unwrap();
        assert_eq!(
            ticker.load(Ordering::Relaxed),
            5,
            "others ran during the wait"
        );
    });
}

#[test]
fn pass_through_cases() {
    let rt = one_worker();
    rt.block_on(|| {
        // A descriptor the program made non-blocking answers at once.
        let (mut a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        assert_eq!(
            a.read(&mut [0u8; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // Files are read with the plain call.
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(!text.is_empty());
    });
    // From an OS thread, a blocking read blocks that thread, as ever.
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"x").unwrap();
    });
    let mut buf = [0u8; 1];
    a.read_exact(&mut buf).unwrap();
    t.join().unwrap();
}

#[test]
fn unix_streams_and_udp_park_too() {
    let rt = one_worker();
    rt.block_on(|| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let r = goro::go(move || {
            let mut buf = [0u8; 3];
            a.read_exact(&mut buf).unwrap();
            buf
        });
        goro::sleep(Duration::from_millis(10));
        b.write_all(b"abc").unwrap();
        assert_eq!(&r.join().unwrap(), b"abc");
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = rx.local_addr().unwrap();
        let r = goro::go(move || {
            let mut buf = [0u8; 16];
            let (n, _) = rx.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        goro::sleep(Duration::from_millis(10));
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"datagram", addr).unwrap();
        assert_eq!(r.join().unwrap(), b"datagram");
    });
}

#[test]
fn poll_of_one_socket_parks_up_to_its_timeout() {
    let rt = one_worker();
    rt.block_on(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let poll = move |ms| {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            (unsafe { libc::poll(&mut pfd, 1, ms) }, pfd.revents)
        };
        let t = Instant::now();
        assert_eq!(poll(50).0, 0, "timed out");
        assert!(t.elapsed() >= Duration::from_millis(50));
        let w = goro::go(move || {
            goro::sleep(Duration::from_millis(10));
            b.write_all(b"!").unwrap();
            b
        });
        let (n, revents) = poll(5_000);
        assert_eq!(n, 1);
        assert!(revents & libc::POLLIN != 0);
        drop(w.join().unwrap());
        drop(a);
    });
}

#[test]
fn close_while_another_green_thread_waits_ends_its_wait() {
    let rt = one_worker();
    rt.block_on(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let a = Arc::new(a);
        let reader = {
            let a = a.clone();
            goro::go(move || (&*a).read(&mut [0u8; 4]))
        };
        goro::sleep(Duration::from_millis(20)); // the reader is parked
                                                // SAFETY: closes the reader's descriptor under it, on purpose; `a` is forgotten
                                                // below so it is not closed twice.
        assert_eq!(unsafe { libc::close(fd) }, 0);
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        std::mem::forget(Arc::into_inner(a));
    });
}

#[test]
fn dup2_over_a_registered_descriptor_leaves_no_stale_registration() {
    let rt = one_worker();
    rt.block_on(|| {
        // Register `a`'s fd by waiting on it once.
        let (mut a, mut a_peer) = UnixStream::pair().unwrap();
        let w = goro::go(move || {
            goro::sleep(Duration::from_millis(5));
            a_peer.write_all(b"1").unwrap();
            a_peer
        });
        a.read_exact(&mut [0u8; 1]).unwrap();
        drop(w.join().unwrap());
        // Put another socket under the same fd number; waiting on it must work.
        let (c, mut c_peer) = UnixStream::pair().unwrap();
        // SAFETY: dup2 onto `a`'s own descriptor, which `a` still owns and closes later.
        assert!(unsafe { libc::dup2(c.as_raw_fd(), a.as_raw_fd()) } >= 0);
        drop(c);
        let w = goro::go(move || {
            goro::sleep(Duration::from_millis(5));
            c_peer.write_all(b"2").unwrap();
            c_peer
        });
        let mut buf = [0u8; 1];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"2");
        drop(w.join().unwrap());
    });
}

/// A hooked wait is a netpoller wait: the deadlock detector counts it as something the
/// outside can end, and pronounces nothing while a peer may still write.
#[test]
fn a_hooked_wait_is_no_deadlock() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        b.write_all(b"late").unwrap();
    });
    goro::Runtime::builder()
        .detect_deadlocks(true)
        .build()
        .unwrap()
        .block_on(move || {
            let mut buf = [0u8; 4];
            a.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"late");
        });
    t.join().unwrap();
}

/// Dropping a runtime whose green thread is parked in a hooked `read` unwinds it: the
/// process goes on (a child process, so an abort would show).
#[test]
fn a_green_thread_parked_in_a_hooked_read_unwinds_at_shutdown() {
    if std::env::var_os("GORO_HOOK_CHILD").is_some() {
        struct Dropped(Arc<AtomicUsize>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut a, _b) = UnixStream::pair().unwrap();
        let rt = goro::Runtime::new().unwrap();
        let d = Dropped(drops.clone());
        rt.spawn(move || {
            let _d = d;
            let _ = a.read(&mut [0u8; 4]); // parks forever
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(rt);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "its destructors ran");
        println!("CHILD-OK");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_green_thread_parked_in_a_hooked_read_unwinds_at_shutdown",
            "--nocapture",
        ])
        .env("GORO_HOOK_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "child: {:?}\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A goro server (the `http_server` or `kv_server` example) on a runtime of its own.
fn serve(
    handler: impl Fn(goro::net::TcpStream) + Send + Sync + Clone + 'static,
) -> (std::net::SocketAddr, goro::Runtime) {
    let rt = goro::Runtime::builder().workers(1).build().unwrap();
    let listener = rt
        .block_on(|| goro::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(move || {
        goro_servers::support::accept::accept_loop(&listener, |stream, _| {
            let h = handler.clone();
            goro::go(move || h(stream));
        })
    });
    (addr, rt)
}

/// ureq, a sync HTTP client on std::net, from 200 green threads on one worker with no
/// spare threads: every request completes, and no processor was ever handed off.
#[test]
fn ureq_from_green_threads_parks() {
    let (addr, _server) =
        serve(|s| goro_servers::http::serve_connection(s, goro_servers::http::Timeouts::default()));
    let rt = one_worker();
    let url = format!("http://{addr}/delay/20");
    let bodies = rt.block_on(move || {
        let agent = ureq::Agent::new();
        let hs: Vec<_> = (0..200)
            .map(|_| {
                let (agent, url) = (agent.clone(), url.clone());
                goro::go(move || agent.get(&url).call().unwrap().into_string().unwrap())
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(bodies.iter().all(|b| b == "Hello, World!"));
    assert_eq!(rt.metrics().handoffs, 0);
}

/// The redis crate's sync client against the `kv_server` example, which here greets each
/// connection only after 20 ms: 1 000 green threads on one worker with no spare threads
/// all wait at once. Had any call blocked the worker, they would take 1 000 × 20 ms.
#[test]
fn redis_sync_client_from_1000_green_threads_on_one_thread() {
    let server = goro::Runtime::builder().workers(1).build().unwrap();
    let (listener, store) = server.block_on(|| {
        let l = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (l, goro_servers::kv::Store::start("shared").unwrap())
    });
    let addr = listener.local_addr().unwrap();
    server.spawn(move || {
        goro_servers::support::accept::accept_loop(&listener, |stream, _| {
            let store = store.clone();
            goro::go(move || {
                goro::sleep(Duration::from_millis(20));
                goro_servers::kv::serve_connection(stream, &store)
            });
        })
    });
    let rt = one_worker();
    let t = Instant::now();
    let total: usize = rt.block_on(move || {
        let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let hs: Vec<_> = (0..1000usize)
            .map(|i| {
                let client = client.clone();
                goro::go(move || {
                    let mut c = client.get_connection().unwrap();
                    let key = format!("k{i}");
                    redis::cmd("SET").arg(&key).arg(i).exec(&mut c).unwrap();
                    let v: usize = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
                    v
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let took = t.elapsed();
    assert_eq!(total, (0..1000).sum());
    assert!(
        took < Duration::from_secs(10),
        "the waits overlapped: {took:?}"
    );
    assert_eq!(
        rt.metrics().worker_threads,
        1,
        "one OS thread served them all"
    );
}

/// A green thread on `rt` that reads one byte from `a` (parking until it comes).
fn read_one_byte(rt: &goro::Runtime, a: &Arc<UnixStream>) -> goro::JoinHandle<u8> {
    let a = a.clone();
    rt.spawn(move || {
        let mut buf = [0u8; 1];
        (&*a).read_exact(&mut buf).unwrap();
        buf[0]
    })
}

/// A socket a green thread has waited on (so it is registered with the netpoller) still
/// works from an OS thread, blocking there as ever; and `dup3` over it drops the
/// registration as `dup2` does.
#[test]
fn a_descriptor_shared_with_an_os_thread_still_works_there() {
    let rt = one_worker();
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = Arc::new(a);
    // Registered by a green thread's wait.
    let reader = read_one_byte(&rt, &a);
    std::thread::sleep(Duration::from_millis(20));
    b.write_all(b"g").unwrap();
    assert_eq!(reader.join().unwrap(), b'g');
    // Now an OS thread blocks on the same descriptor.
    let os = {
        let a = a.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2];
            (&*a).read_exact(&mut buf).unwrap();
            buf
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    b.write_all(b"os").unwrap();
    assert_eq!(&os.join().unwrap(), b"os");
    // dup3 another socket over it: the next green wait registers the new file.
    let (c, mut c_peer) = UnixStream::pair().unwrap();
    // SAFETY: dup3 onto `a`'s descriptor, which `a` still owns and closes later.
    assert!(unsafe { libc::dup3(c.as_raw_fd(), a.as_raw_fd(), libc::O_CLOEXEC) } >= 0);
    drop(c);
    let reader = read_one_byte(&rt, &a);
    std::thread::sleep(Duration::from_millis(20));
    c_peer.write_all(b"3").unwrap();
    assert_eq!(reader.join().unwrap(), b'3');
}

/// `readv`/`writev` (std's vectored I/O) park too.
#[test]
fn vectored_io_parks() {
    use std::io::{IoSlice, IoSliceMut};
    let rt = one_worker();
    rt.block_on(|| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let r = goro::go(move || {
            let (mut x, mut y) = ([0u8; 2], [0u8; 3]);
            let n = a
                .read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
                .unwrap();
            (n, x, y)
        });
        goro::sleep(Duration::from_millis(10));
        let sent = b
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cde")])
            .unwrap();
        assert_eq!(sent, 5);
        let (n, x, y) = r.join().unwrap();
        assert_eq!((n, &x, &y), (5, b"ab", b"cde"));
    });
}
