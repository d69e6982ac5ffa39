//! The async bridge with the real crates: tokio's reactor and timers inside
//! `goro::block_on` from green threads, reqwest against a local server, a tokio program
//! awaiting green threads, async and green parties on one channel, cancellation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::bounded;

/// A future made before `block_on` (outside any `async` block) works: the green thread
/// runs in tokio's context, here the runtime goro hosts.
#[test]
fn a_tokio_sleep_made_before_block_on_works_in_green_threads() {
    let t0 = Instant::now();
    let n = goro::run(|| {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                goro::go(|| {
                    let sleep = tokio::time::sleep(Duration::from_millis(50));
                    goro::block_on(sleep);
                    1
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    });
    assert_eq!(n, 200);
    let took = t0.elapsed();
    // 200 sleeps of 50 ms overlap: far below 200 × 50 ms (generous bound).
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// tokio's sockets in green threads: an echo over `tokio::net`, both ends green.
#[test]
fn tokio_net_echo_between_green_threads() {
    goro::run(|| {
        let listener = goro::block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = goro::go(move || {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for _ in 0..20 {
                let (mut s, _) = goro::block_on(listener.accept()).unwrap();
                goro::go(move || {
                    goro::block_on(async {
                        let mut buf = [0u8; 64];
                        let n = s.read(&mut buf).await.unwrap();
                        s.write_all(&buf[..n]).await.unwrap();
                    })
                });
            }
        });
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                goro::go(move || {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    goro::block_on(async {
                        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                        s.write_all(&[i; 10]).await.unwrap();
                        let mut buf = [0u8; 10];
                        s.read_exact(&mut buf).await.unwrap();
                        assert_eq!(buf, [i; 10]);
                    })
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
    });
}

/// A minimal HTTP/1.1 server on goro::net: answers every request with "ok" after `delay`.
fn http_server(delay: Duration) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::go(move || loop {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        goro::go(move || {
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            loop {
                let Ok(n) = s.read(&mut buf) else { return };
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
                while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    got.drain(..end + 4);
                    goro::sleep(delay);
                    let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(resp).is_err() {
                        return;
                    }
                }
            }
        });
    });
    addr
}

/// reqwest (hyper on tokio) from green threads: each awaits its GET in `block_on`.
#[test]
fn reqwest_from_green_threads() {
    goro::run(|| {
        let addr = http_server(Duration::from_millis(20));
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/");
        let hs: Vec<_> = (0..100)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                goro::go(move || {
                    goro::block_on(async {
                        let r = client.get(&url).send().await.unwrap();
                        r.text().await.unwrap()
                    })
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), "ok");
        }
    });
}

/// A tokio program (`#[tokio::main]`'s multi-thread runtime) spawns green threads and
/// awaits them; the green threads use the caller's tokio runtime, not a second one.
#[test]
fn a_tokio_program_spawns_and_awaits_green_threads() {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    tokio_rt.block_on(async {
        let outer = tokio::runtime::Handle::current().id();
        let rt = goro::Runtime::new().unwrap();
        let hs: Vec<_> = (0..100u64)
            .map(|i| {
                rt.spawn(move || {
                    let inner = tokio::runtime::Handle::current().id();
                    goro::block_on(tokio::time::sleep(Duration::from_millis(5)));
                    (i, inner)
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            let (i, inner) = h.await.unwrap(); // awaited: no tokio worker is blocked
            assert_eq!(inner, outer, "green threads use the caller's tokio runtime");
            sum += i;
        }
        assert_eq!(sum, 4950);
        let panicked = rt.spawn(|| panic!("from a green thread")).await;
        assert!(panicked.is_err());
        drop(rt);
    });
}

/// A tokio task and a green thread ping-pong over goro channels; a `select!` in the
/// green thread shares the channel with the task's async receive.
#[test]
fn tokio_tasks_and_green_threads_share_channels() {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let rt = goro::Runtime::new().unwrap();
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    let green = rt.spawn(move || {
        let mut n = 0;
        loop {
            goro::select! {
                recv(ping_rx) -> v => match v {
                    Ok(v) => { pong_tx.send(v + 1).unwrap(); n += 1; }
                    Err(_) => return n,
                },
            }
        }
    });
    let rounds = tokio_rt.block_on(async move {
        for i in 0..2000u64 {
            ping_tx.send_async(i).await.unwrap();
            assert_eq!(pong_rx.recv_async().await, Ok(i + 1));
        }
        2000
    });
    assert_eq!(tokio_rt.block_on(green).unwrap(), rounds);
}

/// Many async receivers and green receivers on one buffered channel, senders of both
/// kinds: every value arrives exactly once.
#[test]
fn mixed_async_and_green_parties_lose_nothing() {
    const PER: u64 = 2000;
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let rt = goro::Runtime::new().unwrap();
    let (tx, rx) = bounded::<u64>(4);
    let sum = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut greens = Vec::new();
    for k in 0..4u64 {
        let atx = tx.clone();
        tasks.push(tokio_rt.spawn(async move {
            for i in 0..PER {
                atx.send_async(k * PER + i).await.unwrap();
            }
        }));
        let gtx = tx.clone();
        greens.push(rt.spawn(move || {
            for i in 0..PER {
                gtx.send((4 + k) * PER + i).unwrap();
            }
        }));
    }
    drop(tx);
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let (arx, asum, acount) = (rx.clone(), sum.clone(), count.clone());
        receivers.push(tokio_rt.spawn(async move {
            while let Ok(v) = arx.recv_async().await {
                asum.fetch_add(v as usize, Ordering::Relaxed);
                acount.fetch_add(1, Ordering::Relaxed);
            }
        }));
        let (grx, gsum, gcount) = (rx.clone(), sum.clone(), count.clone());
        greens.push(rt.spawn(move || {
            for v in &grx {
                gsum.fetch_add(v as usize, Ordering::Relaxed);
                gcount.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    drop(rx);
    tokio_rt.block_on(async {
        for t in tasks.into_iter().chain(receivers) {
            t.await.unwrap();
        }
    });
    for g in greens {
        g.join().unwrap();
    }
    let n = 8 * PER;
    assert_eq!(count.load(Ordering::Relaxed) as u64, n);
    assert_eq!(sum.load(Ordering::Relaxed) as u64, n * (n - 1) / 2);
}

/// A receive future dropped after a sender handed it a value (the race `timeout` and
/// `select!` make) gives the value back: nothing sent is lost, on unbuffered and full
/// buffered channels alike.
#[test]
fn a_dropped_receive_future_gives_its_value_back() {
    use std::future::Future;
    use std::task::Context;
    for cap in [0usize, 1, 4] {
        let (tx, rx) = bounded::<u64>(cap);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut fut = Box::pin(rx.recv_async());
        assert!(fut.as_mut().poll(&mut cx).is_pending()); // queued
        tx.send(1).unwrap(); // handed straight to the queued future
        for v in 2..2 + cap as u64 {
            tx.send(v).unwrap(); // fill the buffer behind it
        }
        drop(fut); // cancelled with the value in hand
        let got: Vec<u64> = (0..cap as u64 + 1)
            .map(|_| rx.try_recv().unwrap())
            .collect();
        assert_eq!(
            got,
            (1..2 + cap as u64).collect::<Vec<_>>(),
            "cap {cap}: order kept"
        );
        assert!(rx.try_recv().is_err());
    }
}

/// A send future dropped while queued withdraws the send; one dropped after the value was
/// taken counts as sent.
#[test]
fn a_dropped_send_future_withdraws_or_has_sent() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let (tx, rx) = bounded::<u64>(0);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut fut = Box::pin(tx.send_async(7));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut);
    assert!(rx.try_recv().is_err(), "withdrawn: nothing to receive");
    let mut fut = Box::pin(tx.send_async(8));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(rx.try_recv(), Ok(8)); // taken from the queued future
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
}

/// Closing wakes queued async parties: a receiver with `Err`, a sender with its value.
#[test]
fn close_wakes_async_parties() {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = bounded::<String>(0);
    let r = tokio_rt.spawn({
        let rx = rx.clone();
        async move { rx.recv_async().await }
    });
    std::thread::sleep(Duration::from_millis(20));
    tx.close();
    assert!(tokio_rt.block_on(r).unwrap().is_err());
    let (tx, rx) = bounded::<String>(0);
    let s = tokio_rt.spawn({
        let tx = tx.clone();
        async move { tx.send_async("kept".into()).await }
    });
    std::thread::sleep(Duration::from_millis(20));
    tx.close();
    let err = tokio_rt.block_on(s).unwrap().unwrap_err();
    assert_eq!(err.0, "kept");
    drop(rx);
}

/// `Context::cancelled` from a tokio task, cancelled by a green thread.
#[test]
fn context_cancelled_is_awaitable() {
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let rt = goro::Runtime::new().unwrap();
    let (ctx, cancel) = goro::context::Context::background().with_cancel();
    let waiter = tokio_rt.spawn({
        let ctx = ctx.clone();
        async move {
            ctx.cancelled().await;
            ctx.err()
        }
    });
    rt.spawn(move || {
        goro::sleep(Duration::from_millis(20));
        cancel.cancel();
    });
    assert!(tokio_rt.block_on(waiter).unwrap().is_some());
}

/// A green thread parked in `block_on` is no deadlock: its waker may come from anywhere.
#[test]
fn block_on_is_not_a_deadlock() {
    let rt = goro::Runtime::builder()
        .detect_deadlocks(true)
        .build()
        .unwrap();
    let v = rt.block_on(|| {
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            w.wake();
        });
        let mut sent = Some(tx);
        goro::block_on(std::future::poll_fn(move |cx| match sent.take() {
            Some(tx) => {
                tx.send(cx.waker().clone()).unwrap();
                std::task::Poll::Pending
            }
            None => std::task::Poll::Ready(5),
        }))
    });
    assert_eq!(v, 5);
}

/// A panic inside the future unwinds the green thread, as any panic there.
#[test]
fn a_panic_in_a_future_is_the_green_threads_panic() {
    let r = goro::run(|| {
        goro::go(|| {
            goro::block_on(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                panic!("inside the future")
            })
        })
        .join()
    });
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside the future"));
}
