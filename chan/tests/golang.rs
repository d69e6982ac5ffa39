//! Ports of Go's own channel tests: `test/chan/{doubleselect,fifo,goroutines,nonblock,
//! select,select3,sieve1,zerosize}.go` and the channel cases of `runtime/chan_test.go`
//! (`TestChan`, `TestMultiConsumer`, `TestPseudoRandomSend`, `TestNonblockRecvRace`).
//! Source: https://github.com/golang/go (Copyright 2009 The Go Authors, BSD licence).
//!
//! Goroutines are goro green threads on a 2-worker runtime, so every test also exercises
//! parking across workers. Where Go panics (send on a closed channel) goro hands the value
//! back in an `Err`, and the ports check that instead. Go's nil channel is
//! [`never`] for receiving; a select case that must never fire for sending uses a channel
//! nobody receives from.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use goro_chan::*;
use goro_runtime::{go, sleep, yield_now};

mod common;
use common::rt;

/// doubleselect.go: a sender selects over four unbuffered channels, four muxers forward
/// into one channel; the receiver must see every value exactly once.
#[test]
fn doubleselect() {
    const N: i32 = 10_000;
    rt(2).block_on(|| {
        let chans: Vec<_> = (0..4).map(|_| bounded::<i32>(0)).collect();
        let (tx, rxs): (Vec<_>, Vec<_>) = chans.into_iter().unzip();
        go(move || {
            for i in 0..N {
                select! {
                    send(tx[0], i) -> r => r.unwrap(),
                    send(tx[1], i) -> r => r.unwrap(),
                    send(tx[2], i) -> r => r.unwrap(),
                    send(tx[3], i) -> r => r.unwrap(),
                }
            }
            // The senders drop here: every muxer's range loop ends (Go: close(c1..c4)).
        });
        let (cmux_tx, cmux_rx) = bounded::<i32>(0);
        for rx in rxs {
            let out = cmux_tx.clone();
            go(move || {
                for v in rx {
                    out.send(v).unwrap();
                }
            });
        }
        drop(cmux_tx); // the muxers hold the rest: cmux closes when all four finish
        let mut seen = HashSet::new();
        for v in cmux_rx {
            assert!(seen.insert(v), "got duplicate value for {v}");
        }
        assert_eq!(seen.len(), N as usize, "values lost");
    });
}

/// fifo.go: AsynchFifo and SynchFifo (a chain of green threads, each receiving its value
/// in turn from one unbuffered channel).
#[test]
fn fifo() {
    const N: i32 = 10;
    let (tx, rx) = bounded::<i32>(N as usize);
    for i in 0..N {
        tx.send(i).unwrap();
    }
    for i in 0..N {
        assert_eq!(rx.recv(), Ok(i), "bad receive");
    }
    rt(2).block_on(|| {
        let (ch_tx, ch_rx) = bounded::<i32>(0);
        let (start_tx, mut inp) = bounded::<i32>(0);
        for i in 0..N {
            let (out_tx, out_rx) = bounded::<i32>(0);
            let ch = ch_rx.clone();
            go(move || {
                inp.recv().unwrap();
                assert_eq!(ch.recv(), Ok(i), "chain link {i} out of order");
                out_tx.send(1).unwrap();
            });
            inp = out_rx;
        }
        start_tx.send(0).unwrap();
        for i in 0..N {
            ch_tx.send(i).unwrap();
        }
        inp.recv().unwrap();
    });
}

/// goroutines.go: 10 000 green threads in a chain, each forwarding one value leftwards.
#[test]
fn goroutines_chain() {
    rt(2).block_on(|| {
        let (leftmost_tx, leftmost_rx) = bounded::<i32>(0);
        let mut left = leftmost_tx;
        for _ in 0..10_000 {
            let (right_tx, right_rx) = bounded::<i32>(0);
            go(move || left.send(right_rx.recv().unwrap()).unwrap());
            left = right_tx;
        }
        go(move || left.send(1).unwrap());
        assert_eq!(leftmost_rx.recv(), Ok(1));
    });
}

/// nonblock.go: non-blocking sends and receives (`select` with `default`) against a
/// partner that arrives later, for buffer sizes 0 and 1 and several element types.
#[test]
fn nonblock() {
    fn check<T: Send + PartialEq + std::fmt::Debug + Clone + 'static>(
        buffer: usize,
        to_receiver: T,
        from_sender: T,
    ) {
        const MAX_TRIES: usize = 10_000;
        let pause = || {
            sleep(Duration::from_micros(20));
            yield_now();
        };
        let (sync_tx, sync_rx) = bounded::<bool>(0);
        let (tx, rx) = bounded::<T>(buffer);
        select! {
            recv(rx) -> _ => panic!("blocked receive succeeded"),
            default => {}
        }
        // A receiver arrives; our non-blocking send must eventually succeed.
        let (r, s, want) = (rx.clone(), sync_tx.clone(), to_receiver.clone());
        go(move || {
            assert_eq!(r.recv(), Ok(want), "receiver value");
            s.send(true).unwrap();
        });
        let mut tries = 0;
        loop {
            select! {
                send(tx, to_receiver.clone()) -> r => { r.unwrap(); break }
                default => {
                    tries += 1;
                    assert!(tries < MAX_TRIES, "receiver never arrived (buffer={buffer})");
                    pause();
                }
            }
        }
        sync_rx.recv().unwrap();
        // A sender arrives; our non-blocking receive must eventually succeed.
        let (t, s, v) = (tx.clone(), sync_tx, from_sender.clone());
        go(move || {
            t.send(v).unwrap();
            s.send(true).unwrap();
        });
        if buffer > 0 {
            sync_rx.recv().unwrap();
        }
        let mut tries = 0;
        loop {
            select! {
                recv(rx) -> v => { assert_eq!(v, Ok(from_sender.clone()), "sender value"); break }
                default => {
                    tries += 1;
                    assert!(tries < MAX_TRIES, "sender never arrived (buffer={buffer})");
                    pause();
                }
            }
        }
        if buffer == 0 {
            sync_rx.recv().unwrap();
        }
    }
    rt(2).block_on(|| {
        for buffer in 0..2 {
            check::<i32>(buffer, 123, 234);
            check::<i64>(buffer, 123_456, 234_567);
            check::<bool>(buffer, true, true);
            check::<String>(buffer, "hello".into(), "hello again".into());
        }
    });
}

/// select.go: a select whose cases are switched on and off (nil channels in Go) at random
/// must pick only enabled cases and, over many rounds, both of them.
#[test]
fn select_over_enabled_cases() {
    rt(2).block_on(|| {
        let (a_tx, a_rx) = bounded::<u32>(1);
        let (b_tx, b_rx) = bounded::<u32>(1);
        let (mut sent_a, mut sent_b) = (0u32, 0u32);
        let mut seed = 0x2545_F491u32;
        let mut bit = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed & 1 == 1
        };
        // Disabled cases send into channels nobody reads, which are never ready.
        let (dead_tx, _dead_keep) = bounded::<u32>(0);
        for i in 0..100_000u32 {
            let (ca, cb) = (bit(), bit());
            let ta = if ca { a_tx.clone() } else { dead_tx.clone() };
            let tb = if cb { b_tx.clone() } else { dead_tx.clone() };
            select! {
                send(ta, i) -> r => { r.unwrap(); assert!(ca); sent_a += 1; a_rx.recv().unwrap(); }
                send(tb, i) -> r => { r.unwrap(); assert!(cb); sent_b += 1; b_rx.recv().unwrap(); }
                default => assert!(!ca && !cb, "default although a case was ready"),
            }
        }
        assert!(sent_a > 20_000 && sent_b > 20_000, "a={sent_a} b={sent_b}");
    });
}

/// Runs `f` in a green thread; true if it finished within `d`. Go's testBlock waits
/// 10 ms; here an operation that should block gets 100 ms to prove it does, and one that
/// should not gets 5 s to finish (noisy CI).
fn finished_within(f: Box<dyn FnOnce() + Send>, d: Duration) -> bool {
    let (done_tx, done_rx) = bounded::<()>(1);
    go(move || {
        f();
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(d).is_ok()
}

fn blocks(f: Box<dyn FnOnce() + Send>) -> bool {
    !finished_within(f, Duration::from_millis(100))
}

fn completes(f: Box<dyn FnOnce() + Send>) -> bool {
    finished_within(f, Duration::from_secs(5))
}

/// select3.go: what blocks and what does not. Receiving from nil (`never`) blocks, a
/// closed channel never does, a send on a closed channel fails at once (Go panics; goro
/// returns the value), and a select blocks only if every case would.
#[test]
fn select3_blocking_semantics() {
    rt(2).block_on(move || {
        let never_rx = never::<i32>();
        assert!(
            blocks(Box::new(move || {
                let _ = never_rx.recv();
            })),
            "nil recv"
        );

        let (closed_tx, closed_rx) = bounded::<i32>(0);
        closed_tx.close();
        let (ctx, crx) = (closed_tx.clone(), closed_rx.clone());
        assert!(completes(Box::new(move || assert!(crx.recv().is_err()))));
        assert!(completes(Box::new(move || assert_eq!(
            ctx.send(7),
            Err(SendError(7))
        ))));

        let (empty_tx, empty_rx) = bounded::<i32>(0);
        let r = empty_rx.clone();
        assert!(
            blocks(Box::new(move || {
                let _ = r.recv();
            })),
            "empty sync recv"
        );
        let (full_tx, _full_rx) = bounded::<i32>(1);
        full_tx.send(1).unwrap();
        let t = full_tx.clone();
        assert!(
            blocks(Box::new(move || {
                let _ = t.send(2);
            })),
            "full async send"
        );

        let (r1, r2) = (empty_rx.clone(), never::<i32>());
        assert!(blocks(Box::new(move || {
            select! { recv(r1) -> _ => {}, recv(r2) -> _ => {} }
        })));
        let (r1, r2) = (empty_rx.clone(), closed_rx.clone());
        assert!(completes(Box::new(move || {
            select! { recv(r1) -> _ => panic!("empty won"), recv(r2) -> v => assert!(v.is_err()) }
        })));
        let (t1, r2) = (full_tx.clone(), never::<i32>());
        assert!(blocks(Box::new(move || {
            select! { send(t1, 3) -> _ => {}, recv(r2) -> _ => {} }
        })));
        drop(empty_tx);
    });
}

/// sieve1.go: the concurrent prime sieve; the first 100 primes must come out in order.
#[test]
fn sieve1() {
    fn generate(ch: Sender<u32>) {
        for i in 2.. {
            if ch.send(i).is_err() {
                return; // the sieve stopped listening
            }
        }
    }
    fn filter(inp: Receiver<u32>, out: Sender<u32>, prime: u32) {
        for i in inp {
            if i % prime != 0 && out.send(i).is_err() {
                return;
            }
        }
    }
    let primes = rt(2).block_on(|| {
        let (tx, mut rx) = bounded::<u32>(0);
        go(move || generate(tx));
        let mut primes = Vec::new();
        for _ in 0..100 {
            let prime = rx.recv().unwrap();
            primes.push(prime);
            let (tx1, rx1) = bounded::<u32>(0);
            go(move || filter(rx, tx1, prime));
            rx = rx1;
        }
        primes // dropping `rx` unwinds the chain: each filter's send fails in turn
    });
    let naive: Vec<u32> = (2..)
        .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .take(100)
        .collect();
    assert_eq!(primes, naive);
}

/// zerosize.go: channels of zero-sized values work at every capacity.
#[test]
fn zerosize() {
    for cap in [0, 1, 16] {
        let (tx, rx) = bounded::<()>(cap);
        rt(2).block_on(move || {
            let h = go(move || (0..1000).for_each(|_| tx.send(()).unwrap()));
            assert_eq!(rx.iter().count(), 1000);
            h.join().unwrap();
        });
    }
    let (tx, rx) = bounded::<[u8; 0]>(4);
    tx.send([]).unwrap();
    assert_eq!(rx.recv(), Ok([]));
}

/// runtime/chan_test.go TestChan, for capacities 0..=16 (Go uses 0..N with N=200 in long
/// mode): receives block on an empty channel, sends on a full one, closing unblocks and
/// drains, and values arrive in FIFO order from one sender and complete from several.
#[test]
fn chan_test_capacities() {
    rt(2).block_on(|| {
        for cap in 0..=16usize {
            // A receive from an empty channel blocks until a send.
            let (tx, rx) = bounded::<i32>(cap);
            let recv_done = Arc::new(AtomicUsize::new(0));
            let d = recv_done.clone();
            let r = rx.clone();
            let h = go(move || {
                let v = r.recv();
                d.store(1, SeqCst);
                v
            });
            sleep(Duration::from_millis(2));
            assert_eq!(recv_done.load(SeqCst), 0, "cap {cap}: recv did not block");
            tx.send(0).unwrap();
            assert_eq!(h.join().unwrap(), Ok(0));

            // A send to a full channel blocks until a receive.
            for i in 0..cap {
                tx.send(i as i32).unwrap();
            }
            let send_done = Arc::new(AtomicUsize::new(0));
            let d = send_done.clone();
            let t = tx.clone();
            let h = go(move || {
                t.send(-1).unwrap();
                d.store(1, SeqCst);
            });
            sleep(Duration::from_millis(2));
            assert_eq!(send_done.load(SeqCst), 0, "cap {cap}: send did not block");
            for i in 0..cap {
                assert_eq!(rx.recv(), Ok(i as i32), "cap {cap}: FIFO");
            }
            assert_eq!(rx.recv(), Ok(-1));
            h.join().unwrap();

            // Close: buffered values drain first, then every receive fails at once.
            for i in 0..cap {
                tx.send(i as i32).unwrap();
            }
            tx.close();
            for i in 0..cap {
                assert_eq!(rx.recv(), Ok(i as i32));
            }
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

            // Several senders, several receivers: every value exactly once (Go's P=4, L=1000).
            let (tx, rx) = bounded::<usize>(cap);
            let senders: Vec<_> = (0..4)
                .map(|p| {
                    let tx = tx.clone();
                    go(move || (0..1000).for_each(|i| tx.send(p * 1000 + i).unwrap()))
                })
                .collect();
            drop(tx);
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || rx.iter().collect::<Vec<_>>())
                })
                .collect();
            senders.into_iter().for_each(|s| s.join().unwrap());
            let mut all: Vec<usize> = receivers
                .into_iter()
                .flat_map(|r| r.join().unwrap())
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..4000).collect::<Vec<_>>(), "cap {cap}");
        }
    });
}

/// runtime/chan_test.go TestMultiConsumer: a pipeline fanned out to 5 workers; the sum
/// and count of what comes out equal what went in, for 10 000 items.
#[test]
fn multi_consumer() {
    const N_WORK: usize = 5;
    const N_ITER: usize = 10_000;
    rt(2).block_on(|| {
        let (q_tx, q_rx) = bounded::<usize>(N_WORK * 3);
        let (r_tx, r_rx) = bounded::<usize>(N_WORK * 3);
        let workers: Vec<_> = (0..N_WORK)
            .map(|w| {
                let (q, r) = (q_rx.clone(), r_tx.clone());
                go(move || {
                    for v in q {
                        // Mimic Go's "work" with a yield now and then.
                        if w % 2 == 0 && v % 7 == 0 {
                            yield_now();
                        }
                        r.send(v).unwrap();
                    }
                })
            })
            .collect();
        drop((q_rx, r_tx));
        let feeder = go(move || (0..N_ITER).for_each(|i| q_tx.send(i).unwrap()));
        let (mut n, mut sum) = (0, 0);
        for v in r_rx {
            n += 1;
            sum += v;
        }
        feeder.join().unwrap();
        workers.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!((n, sum), (N_ITER, N_ITER * (N_ITER - 1) / 2));
    });
}

/// runtime/chan_test.go TestPseudoRandomSend: a select sending 0 or 1 to the same
/// channel picks both about equally (Go requires each > n/10). The reader yields before
/// each receive, as Go's does with `runtime.Gosched()`, so on the unbuffered channel the
/// select is usually *blocked* with both cases queued on one channel when the receive
/// comes: which fires then is decided by the order the waiters were queued in.
#[test]
fn pseudo_random_send() {
    const N: usize = 100;
    for cap in [0, N] {
        let (tx, rx) = bounded::<u8>(cap);
        let got = rt(2).block_on(move || {
            let reader = go(move || {
                (0..N)
                    .map(|_| {
                        yield_now();
                        rx.recv().unwrap()
                    })
                    .collect::<Vec<_>>()
            });
            for _ in 0..N {
                select! {
                    send(tx, 0) -> r => r.unwrap(),
                    send(tx, 1) -> r => r.unwrap(),
                }
            }
            reader.join().unwrap()
        });
        let ones = got.iter().filter(|&&b| b == 1).count();
        assert!(
            ones > N / 10 && N - ones > N / 10,
            "cap {cap}: want pseudo-random, got {ones} ones of {N}"
        );
    }
}

/// runtime/chan_test.go TestNonblockRecvRace: a non-blocking receive racing a close of a
/// channel holding one value must get the value (or see it gone), never "empty".
#[test]
fn nonblock_recv_race() {
    rt(2).block_on(|| {
        for _ in 0..2000 {
            let (tx, rx) = bounded::<i32>(1);
            tx.send(1).unwrap();
            let closer = go(move || {
                tx.close();
            });
            select! {
                recv(rx) -> _ => {}
                default => panic!("chan is not ready"),
            }
            closer.join().unwrap();
        }
    });
}
