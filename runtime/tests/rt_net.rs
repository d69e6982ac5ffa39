//! goro::net on loopback: green threads park on the netpoller, OS threads block; every
//! byte is counted.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_runtime::net::{TcpListener, TcpStream, UdpSocket};
use goro_runtime::{go, Runtime};

mod common;
use common::{child_command, is_child, rt};

fn echo_server(listener: TcpListener) {
    go(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            go(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
}

#[test]
fn many_concurrent_connections_echo_every_byte() {
    let conns = if std::env::var("GORO_STRESS").is_ok() {
        2000
    } else {
        200
    };
    let total = rt(2).block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        echo_server(listener);
        let bytes = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..conns)
            .map(|c| {
                let bytes = bytes.clone();
                go(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    for i in 0..20u32 {
                        let msg = format!("conn {c} message {i}\n");
                        s.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                        bytes.fetch_add(back.len(), SeqCst);
                    }
                })
            })
            .collect();
        clients.into_iter().for_each(|h| h.join().unwrap());
        bytes.load(SeqCst)
    });
    let expected: usize = (0..conns)
        .flat_map(|c| (0..20).map(move |i| format!("conn {c} message {i}\n").len()))
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn large_transfer_both_directions_with_backpressure() {
    rt(2).block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        echo_server(listener);
        let s = Arc::new(TcpStream::connect(addr).unwrap());
        const N: usize = 8 << 20; // far more than the socket buffers: writers must park
        let writer = {
            let s = s.clone();
            go(move || {
                let chunk: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
                let mut sent = 0;
                while sent < N {
                    let off = sent % chunk.len(); // stream byte p is always `p as u8`
                    let end = chunk.len().min(off + (N - sent));
                    let n = (&*s).write(&chunk[off..end]).unwrap();
                    sent += n;
                }
                s.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut got = 0usize;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = (&*s).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, (got + k) as u8);
            }
            got += n;
        }
        writer.join().unwrap();
        assert_eq!(got, N);
    });
}

#[test]
fn read_timeout_gives_wouldblock_and_the_stream_still_works() {
    rt(1).block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = go(move || {
            let (mut s, _) = listener.accept().unwrap();
            goro_runtime::sleep(Duration::from_millis(100));
            s.write_all(b"late").unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
        let t = Instant::now();
        let err = c.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "{:?}",
            t.elapsed()
        );
        c.set_read_timeout(None).unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
        server.join().unwrap();
        assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
    });
}

#[test]
fn connect_refused_and_half_close() {
    rt(1).block_on(|| {
        // A port nobody listens on: bind, learn the port, close.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = go(move || {
            let (mut s, peer) = listener.accept().unwrap();
            assert_eq!(s.peer_addr().unwrap(), peer);
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap(); // until the client's half-close
            s.write_all(&all).unwrap(); // the other half still works
            all.len()
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello, half-closed world").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello, half-closed world");
        assert_eq!(server.join().unwrap(), back.len());
    });
}

#[test]
fn peer_reset_gives_an_error_not_a_hang() {
    rt(1).block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = go(move || {
            let (s, _) = listener.accept().unwrap();
            // Unread data + close = RST to the peer.
            let mut buf = [0u8; 1];
            (&s).read_exact(&mut buf).unwrap();
            drop(s);
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"xyz").unwrap();
        server.join().unwrap();
        let mut buf = [0u8; 16];
        let r = c.read(&mut buf);
        match r {
            Ok(0) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            Ok(n) => panic!("read {n} bytes from a closed peer"),
        }
    });
}

#[test]
fn a_parked_reader_does_not_block_its_only_worker() {
    rt(1).block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let idle = go(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1];
            s.read(&mut buf).unwrap() // parks until the end of the test
        });
        let mut c = TcpStream::connect(addr).unwrap();
        // Plenty of work still runs on the single worker meanwhile.
        let sum: u64 = (0..100u64)
            .map(|i| go(move || i))
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(sum, 4950);
        c.write_all(b"!").unwrap();
        assert_eq!(idle.join().unwrap(), 1);
    });
}

#[test]
fn os_thread_client_against_green_server() {
    let rt = rt(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(move || echo_server(listener));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap(); // goro's type, on an OS thread
                let msg = format!("os thread {i}");
                s.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            })
        })
        .collect();
    clients.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn udp_round_trips_in_green_threads() {
    rt(2).block_on(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let srv = go(move || {
            let mut buf = [0u8; 64];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for i in 0..100u32 {
            client.send(&i.to_le_bytes()).unwrap();
            let mut buf = [0u8; 4];
            assert_eq!(client.recv(&mut buf).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(buf), i);
        }
        srv.join().unwrap();
    });
}

#[test]
fn wait_readable_on_a_plain_fd() {
    rt(1).block_on(|| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let err =
            goro_runtime::net::wait_readable(&a, Some(Duration::from_millis(10))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let w = go(move || {
            goro_runtime::sleep(Duration::from_millis(5));
            (&b).write_all(b"x").unwrap();
            b
        });
        goro_runtime::net::wait_readable(&a, Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1];
        (&a).read_exact(&mut buf).unwrap();
        drop(w.join().unwrap());
    });
}

/// `EMFILE` on accept reaches the caller as an error and the server keeps serving once
/// descriptors are free again (child process with a lowered `RLIMIT_NOFILE`).
#[test]
fn accept_under_fd_exhaustion_reports_and_recovers() {
    const NAME: &str = "accept_under_fd_exhaustion_reports_and_recovers";
    if is_child(NAME) {
        let rt = rt(1);
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            // SAFETY: plain setrlimit call with a valid struct.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
            // One connection waits in the backlog; then every free descriptor is taken
            // (how many are free depends on what the parent process inherited, so fill
            // until the kernel says no rather than counting).
            let _client = std::net::TcpStream::connect(addr).unwrap();
            let mut held = Vec::new();
            loop {
                match std::fs::File::open("/dev/null") {
                    Ok(f) => held.push(f),
                    Err(e) => {
                        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                        break;
                    }
                }
                assert!(held.len() < 64, "RLIMIT_NOFILE was not applied");
            }
            let err = listener
                .accept()
                .expect_err("accept with no descriptor left");
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            held.clear(); // free descriptors: the pending connection is accepted now
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"ok").unwrap();
            println!("EMFILE-RECOVERED");
        });
        return;
    }
    let out = child_command(NAME).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("EMFILE-RECOVERED"),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Descriptors run out *under load*. The server runs in a child process allowed only a
/// dozen more fds than it starts with, with a green thread per connection; 120 client
/// green threads in this process connect at once and make 20 echo round trips each. The
/// kernel queues the connections the server cannot take yet; every `accept` that finds no
/// descriptor returns `EMFILE` as an `io::Error`, the server backs off and goes on, and
/// every client gets every round trip echoed intact. Nothing hangs: a watchdog ends the
/// child after 60 s, and the clients' reads time out.
///
/// (Clients and server in one process would livelock, with or without goro: clients
/// stuck in `connect` hold the descriptors the server needs to accept them.)
#[test]
fn fd_exhaustion_under_load_reports_errors_and_every_client_finishes() {
    const NAME: &str = "fd_exhaustion_under_load_reports_errors_and_every_client_finishes";
    const CLIENTS: usize = 120;
    const ROUNDS: usize = 20;
    if is_child(NAME) {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(60));
            eprintln!(
                "fd exhaustion under load: hung for 60 s\n{}",
                goro_runtime::dump()
            );
            std::process::exit(3);
        });
        rt(2).block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            println!("LISTENING {}", listener.local_addr().unwrap());
            std::io::stdout().flush().unwrap();
            let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
            let lim = libc::rlimit {
                rlim_cur: open + 12,
                rlim_max: open + 12,
            };
            // SAFETY: plain setrlimit call with a valid struct.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
            let (mut served, mut emfile) = (0, 0);
            let mut handlers = Vec::new();
            while served < CLIENTS {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        served += 1;
                        handlers.push(go(move || {
                            let mut buf = [0u8; 256];
                            while let Ok(n @ 1..) = s.read(&mut buf) {
                                s.write_all(&buf[..n]).unwrap();
                            }
                        }));
                    }
                    Err(e) => {
                        let code = e.raw_os_error();
                        assert!(matches!(code, Some(libc::EMFILE)), "accept: unexpected {e}");
                        emfile += 1;
                        goro_runtime::sleep(Duration::from_millis(1));
                    }
                }
            }
            for h in handlers {
                h.join().unwrap();
            }
            println!("SERVED {served} accept_emfile={emfile}");
        });
        return;
    }
    let mut child = child_command(NAME)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        use std::io::BufRead;
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the server child died"
        );
        // The harness prints "test NAME ... " on the same line first.
        if let Some(a) = line.trim().split("LISTENING ").nth(1) {
            break a.parse::<std::net::SocketAddr>().unwrap();
        }
    };
    let bytes = rt(2).block_on(move || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                go(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    for r in 0..ROUNDS {
                        let msg = [(c + r) as u8; 32];
                        let mut back = [0u8; 32];
                        s.write_all(&msg).unwrap();
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(msg, back, "client {c} round {r} corrupted");
                    }
                    ROUNDS * 32
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(bytes, CLIENTS * ROUNDS * 32, "bytes lost");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "server: {status:?}\n{rest}\n{err}");
    let served = rest
        .lines()
        .find_map(|l| l.strip_prefix("SERVED "))
        .expect(&rest);
    let emfile: usize = served
        .split("accept_emfile=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(served.starts_with(&format!("{CLIENTS} ")), "{served}");
    assert!(
        emfile > 0,
        "the descriptor limit was never reached: {served}"
    );
}

#[test]
fn blocking_keeps_other_green_threads_running_on_one_worker() {
    rt(1).block_on(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        // The blocking call waits on a std channel: it would freeze the only worker if it
        // ran there.
        let blocked = go(move || goro_runtime::blocking(move || rx.recv().is_ok()));
        let others: u64 = (0..50u64)
            .map(|i| go(move || i))
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(others, 1225);
        tx.send(()).unwrap();
        assert!(blocked.join().unwrap());
        let p = go(|| goro_runtime::blocking(|| -> u8 { panic!("in the pool") })).join();
        assert!(p.is_err(), "a panic in f resumes in the caller");
    });
    assert_eq!(goro_runtime::blocking(|| 7), 7, "inline on an OS thread");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn dropping_a_runtime_with_a_green_thread_parked_in_a_read_closes_its_fds() {
    // The parked read's slot kept the green thread, and through it the runtime (its epoll
    // fd and eventfd), alive after the runtime was dropped: +2 fds per runtime.
    const NAME: &str = "dropping_a_runtime_with_a_green_thread_parked_in_a_read_closes_its_fds";
    if is_child(NAME) {
        // One runtime first: what a process makes once for all its runtimes (the tokio
        // runtime goro hosts, with the `tokio` feature) is not a leak.
        drop(goro_runtime::Runtime::new().unwrap());
        let before = open_fds();
        for _ in 0..20 {
            let rt = goro_runtime::Runtime::new().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.read(&mut [0; 8]); // parks: the peer never writes
            });
            let (_peer, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            drop(rt);
        }
        assert_eq!(open_fds(), before, "fds leaked by dropped runtimes");
        return;
    }
    let out = child_command(NAME).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn close_wakes_a_parked_accept_and_fails_every_later_one() {
    for workers in [1, 2] {
        let rt = goro_runtime::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        rt.block_on(|| {
            let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = ln.local_addr().unwrap();
            let l = ln.clone();
            let acceptor = goro_runtime::go(move || l.accept().map(|_| ()));
            goro_runtime::sleep(Duration::from_millis(20)); // parked in accept
            ln.close();
            ln.close(); // twice is fine
            let err = acceptor.join().unwrap().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotConnected, "{err}");
            assert_eq!(
                ln.accept().unwrap_err().kind(),
                std::io::ErrorKind::NotConnected
            );
            assert!(
                std::net::TcpStream::connect(addr).is_err(),
                "a closed listener queues no connection"
            );
        });
    }
    // A plain OS thread blocked in accept wakes too.
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let l = ln.clone();
    let t = std::thread::spawn(move || l.accept().map(|_| ()));
    std::thread::sleep(Duration::from_millis(20));
    ln.close();
    let err = t.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
}

mod unix {
    use super::*;
    use goro_runtime::net::{UnixDatagram, UnixListener, UnixStream};

    fn sock_path(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("goro-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn unix_stream_echo_with_many_clients_on_1_and_2_workers() {
        for workers in [1, 2] {
            let path = sock_path(&format!("echo{workers}"));
            let p = path.clone();
            let total = Runtime::builder()
                .workers(workers)
                .build()
                .unwrap()
                .block_on(move || {
                    let ln = UnixListener::bind(&p).unwrap();
                    go(move || {
                        for s in ln.incoming() {
                            let mut s = s.unwrap();
                            go(move || {
                                let mut buf = [0u8; 64];
                                while let Ok(n @ 1..) = s.read(&mut buf) {
                                    s.write_all(&buf[..n]).unwrap();
                                }
                            });
                        }
                    });
                    let clients: Vec<_> = (0..8u8)
                        .map(|c| {
                            let p = p.clone();
                            go(move || {
                                let mut s = UnixStream::connect(&p).unwrap();
                                let mut back = [0u8; 16];
                                for r in 0..50u8 {
                                    let msg = [c ^ r; 16];
                                    s.write_all(&msg).unwrap();
                                    s.read_exact(&mut back).unwrap();
                                    assert_eq!(msg, back);
                                }
                                50
                            })
                        })
                        .collect();
                    clients
                        .into_iter()
                        .map(|h| h.join().unwrap())
                        .sum::<usize>()
                });
            assert_eq!(total, 400, "{workers} workers");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn unix_datagrams_and_a_closed_listener() {
        common::rt(1).block_on(|| {
            let (a, b) = UnixDatagram::pair().unwrap();
            let reader = go(move || {
                let mut buf = [0u8; 8];
                let n = b.recv(&mut buf).unwrap(); // parks until the send below
                buf[..n].to_vec()
            });
            goro_runtime::sleep(Duration::from_millis(10));
            a.send(b"dgram").unwrap();
            assert_eq!(reader.join().unwrap(), b"dgram");

            let path = sock_path("closed");
            let ln = Arc::new(UnixListener::bind(&path).unwrap());
            let l = ln.clone();
            let acceptor = go(move || l.accept().map(|_| ()));
            goro_runtime::sleep(Duration::from_millis(10));
            ln.close();
            assert_eq!(
                acceptor.join().unwrap().unwrap_err().kind(),
                ErrorKind::NotConnected
            );
            std::fs::remove_file(&path).unwrap();
        });
        // Plain OS threads, no runtime.
        let (mut x, mut y) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 2];
            y.read_exact(&mut b).unwrap();
            b
        });
        x.write_all(b"ok").unwrap();
        assert_eq!(&t.join().unwrap(), b"ok");
    }
}

/// Two connections become readable in one netpoll batch, and each green thread then
/// computes for 300 ms without yielding. A small batch is not shared at once (the poller
/// runs it, `worker::NETPOLL_SHARE`), but work queued behind a long green thread is: the
/// two must overlap on the two workers, not run one after the other.
#[test]
fn a_small_netpoll_batch_of_long_green_threads_runs_in_parallel() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let starts = rt(2).block_on(move || {
        let listener = TcpListener::from_std(listener).unwrap();
        let client = std::thread::spawn(move || {
            let mut a = std::net::TcpStream::connect(addr).unwrap();
            let mut b = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(100)); // both readers park
            a.write_all(b"x").unwrap();
            b.write_all(b"x").unwrap();
            let mut byte = [0u8; 1];
            a.read_exact(&mut byte).unwrap();
            b.read_exact(&mut byte).unwrap();
        });
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                go(move || {
                    let mut byte = [0u8; 1];
                    s.read_exact(&mut byte).unwrap();
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(300) {
                        std::hint::spin_loop();
                    }
                    s.write_all(b"y").unwrap();
                    start
                })
            })
            .collect();
        let starts: Vec<Instant> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        client.join().unwrap();
        starts
    });
    let gap = if starts[0] > starts[1] {
        starts[0] - starts[1]
    } else {
        starts[1] - starts[0]
    };
    assert!(
        gap < Duration::from_millis(150),
        "ran one after the other: {gap:?} apart"
    );
}

/// Go's `ListenConfig`: `SO_REUSEPORT` lets two listeners share an address, a backlog of
/// our own, and keep-alive on accepted connections; `TcpStream::set_keepalive`.
#[test]
fn listen_config_reuse_port_backlog_and_keep_alive() {
    use goro_runtime::net::{ListenConfig, TcpStream};
    use std::time::Duration;
    goro_runtime::run(|| {
        let cfg = ListenConfig::new().reuse_port(true).backlog(16);
        let a = cfg.listen_tcp("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        let b = cfg
            .listen_tcp(addr)
            .expect("SO_REUSEPORT: the same address twice");
        assert_eq!(b.local_addr().unwrap(), addr);
        assert!(
            ListenConfig::new().listen_tcp(addr).is_err(),
            "without SO_REUSEPORT the address is taken"
        );
        let ka = ListenConfig::new()
            .keep_alive(Some(Duration::from_secs(30)))
            .listen_tcp("127.0.0.1:0")
            .unwrap();
        let c = TcpStream::connect(ka.local_addr().unwrap()).unwrap();
        let (s, _) = ka.accept().unwrap();
        assert_eq!(s.keepalive().unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(c.keepalive().unwrap(), None);
        c.set_keepalive(Some(Duration::from_secs(7))).unwrap();
        assert_eq!(c.keepalive().unwrap(), Some(Duration::from_secs(7)));
        let dialed =
            TcpStream::connect_timeout_to(ka.local_addr().unwrap(), Duration::from_secs(5));
        assert!(dialed.is_ok());
    });
}

/// `readable` parks with no buffer until data, end of stream or a timeout, and a read
/// after it finds the data at once: request/response rounds, where the READY a readiness
/// wait consumes must not leave the next read waiting for an edge that already came.
#[test]
fn readable_waits_without_a_buffer_and_the_read_after_it_never_hangs() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let server = go(move || {
            let (mut s, _) = ln.accept().unwrap();
            let mut rounds = 0;
            while s.readable().is_ok() {
                let mut buf = vec![0u8; 4096];
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.write_all(&buf[..n]).unwrap(),
                }
                rounds += 1;
            }
            rounds
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let mut back = [0u8; 64];
        for r in 0..500u32 {
            let msg = [r as u8; 64];
            c.write_all(&msg).unwrap();
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg, "round {r}");
        }
        c.shutdown(Shutdown::Write).unwrap();
        assert!(server.join().unwrap() >= 500);
        // A read timeout bounds `readable` like `read`.
        let (_quiet, s) = connected_pair();
        readable_times_out(&s);
    });
}

/// After a short read `readable` parks before any syscall; it must still return for data
/// sent later, for data and end of stream sent under one edge, and at its timeout.
#[test]
fn readable_after_a_short_read_sees_later_data_a_fin_with_data_and_its_timeout() {
    rt(2).block_on(|| {
        let (mut c, mut s) = connected_pair();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let writer = go({
                let mut c = c.try_clone().unwrap();
                move || {
                    goro_runtime::sleep(Duration::from_millis(2));
                    c.write_all(b"abc").unwrap();
                }
            });
            s.readable().unwrap();
            assert_eq!(s.read(&mut buf).unwrap(), 3, "a short read: drained");
            writer.join().unwrap();
        }
        readable_times_out(&s);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"last").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        s.readable().unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 4);
        s.readable().unwrap(); // end of stream: readable, at once
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    });
}

/// `try_read` never waits; a readiness `readable` reports from an edge whose data was
/// already read is stale, and the `WouldBlock` that follows makes the next `readable` park
/// for real (and time out), not spin.
#[test]
fn try_read_says_would_block_and_a_stale_readiness_costs_one_attempt() {
    rt(2).block_on(|| {
        let (mut c, mut s) = connected_pair();
        let mut buf = [0u8; 64];
        assert_eq!(
            s.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // A read that waits (and so registers), then data read without a wait: its edge
        // is left on the slot.
        let writer = go({
            let mut c = c.try_clone().unwrap();
            move || {
                goro_runtime::sleep(Duration::from_millis(5));
                c.write_all(b"a").unwrap();
            }
        });
        assert_eq!(s.read(&mut buf).unwrap(), 1);
        writer.join().unwrap();
        c.write_all(b"b").unwrap();
        goro_runtime::sleep(Duration::from_millis(20)); // the edge reaches the slot
        assert_eq!(s.try_read(&mut buf).unwrap(), 1);
        s.readable().unwrap(); // stale: the edge of "b"
        assert_eq!(
            s.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        readable_times_out(&s); // parked, not answered from the stale edge
        c.write_all(b"c").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.readable().unwrap();
        assert_eq!(s.try_read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'c');
    });
}

/// A loopback connection: (client end, server end).
fn connected_pair() -> (TcpStream, TcpStream) {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    (c, s)
}

/// `readable` on `s`, with nothing coming, ends at a 20 ms read timeout (`WouldBlock`),
/// not before.
fn readable_times_out(s: &TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let t = Instant::now();
    assert_eq!(s.readable().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(t.elapsed() >= Duration::from_millis(15), "it parked");
}
