//! Liveness: a green thread that blocks its OS thread (a `std` call, a loop that never
//! parks) does not stall the others, because sysmon hands its processor to another thread
//! (`runtime/src/scheduler/handoff.rs`). Each case runs in a child process with a timeout:
//! before the handoff, the first three hung forever on 2 workers.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro::chan;

mod common;
use common::{child_command, is_child, output_within};

/// Runs `body` in a child of this test binary; fails if it fails or hangs.
fn in_child(name: &str, body: impl FnOnce()) {
    if is_child(name) {
        body();
        return;
    }
    let mut cmd = child_command(name);
    cmd.env("GORO_MAXPROCS", "2");
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn std_tcp_clients_of_a_goro_server_in_the_same_process_complete() {
    in_child(
        "std_tcp_clients_of_a_goro_server_in_the_same_process_complete",
        || {
            goro::run(|| {
                let ln = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = ln.local_addr().unwrap();
                goro::go(move || {
                    for c in ln.incoming() {
                        let mut c = c.unwrap();
                        goro::go(move || {
                            let mut b = [0u8; 4];
                            while c.read_exact(&mut b).is_ok() {
                                c.write_all(&b).unwrap();
                            }
                        });
                    }
                });
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        goro::go(move || {
                            let mut s = std::net::TcpStream::connect(addr).unwrap();
                            s.write_all(b"ping").unwrap();
                            let mut b = [0u8; 4];
                            s.read_exact(&mut b).unwrap();
                            assert_eq!(&b, b"ping");
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            });
        },
    );
}

#[test]
fn std_once_lock_whose_init_sleeps_in_goro_completes() {
    in_child("std_once_lock_whose_init_sleeps_in_goro_completes", || {
        static CELL: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        goro::run(|| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    goro::go(|| {
                        *CELL.get_or_init(|| {
                            goro::sleep(Duration::from_millis(20));
                            7
                        })
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), 7);
            }
        });
    });
}

#[test]
fn green_threads_polling_with_select_default_do_not_starve_a_sleeper() {
    in_child(
        "green_threads_polling_with_select_default_do_not_starve_a_sleeper",
        || {
            goro::run(|| {
                let (tx, rx) = chan::bounded::<()>(0);
                let pollers: Vec<_> = (0..2)
                    .map(|_| {
                        let rx = rx.clone();
                        goro::go(move || loop {
                            goro::select! {
                                recv(rx) -> v => if v.is_err() { return },
                                default => {}
                            }
                        })
                    })
                    .collect();
                goro::go(move || {
                    goro::sleep(Duration::from_millis(100));
                    drop(tx);
                });
                for h in pollers {
                    h.join().unwrap();
                }
            });
        },
    );
}

#[test]
fn a_blocked_green_thread_does_not_delay_a_sleeper_on_one_worker() {
    in_child(
        "a_blocked_green_thread_does_not_delay_a_sleeper_on_one_worker",
        || {
            let rt = common::rt(1);
            let blocked_done = Arc::new(AtomicBool::new(false));
            let done = blocked_done.clone();
            let sleeper_saw = rt.block_on(move || {
                let sleeper = goro::go(move || {
                    for _ in 0..5 {
                        goro::sleep(Duration::from_millis(10));
                    }
                    done.load(Ordering::SeqCst)
                });
                let flag = blocked_done.clone();
                let blocker = goro::go(move || {
                    std::thread::sleep(Duration::from_secs(3)); // a blocking std call
                    flag.store(true, Ordering::SeqCst);
                });
                let saw = sleeper.join().unwrap();
                blocker.join().unwrap();
                saw
            });
            assert!(
                !sleeper_saw,
                "the sleeper's 50 ms of sleeps waited for the 3 s blocking call"
            );
        },
    );
}

#[test]
fn run_returns_while_a_green_thread_spins_forever() {
    in_child("run_returns_while_a_green_thread_spins_forever", || {
        let v = goro::run(|| {
            goro::go(|| loop {
                std::hint::spin_loop();
            });
            goro::sleep(Duration::from_millis(50)); // let it start
            3
        });
        assert_eq!(v, 3);
    });
}

#[test]
fn a_locked_green_thread_stays_on_its_thread_and_has_it_alone() {
    use std::collections::HashSet;
    use std::sync::Mutex;
    // Threads other green threads ran on while the lock held.
    let seen_elsewhere = Arc::new(Mutex::new(HashSet::new()));
    let seen = seen_elsewhere.clone();
    let locked_now = Arc::new(AtomicBool::new(false));
    let (window, window2) = (locked_now.clone(), locked_now.clone());
    let (locked_tid, others) = goro::run(move || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let locked = goro::go(move || {
            goro::lock_os_thread();
            goro::lock_os_thread(); // nests
            window.store(true, Ordering::SeqCst);
            let me = std::thread::current().id();
            for i in 0..50 {
                // Parks of every kind: sleep, channel receive, yield.
                goro::sleep(Duration::from_millis(1));
                assert_eq!(rx.recv().unwrap(), i);
                goro::yield_now();
                assert_eq!(std::thread::current().id(), me, "moved after a park");
            }
            goro::unlock_os_thread();
            assert_eq!(std::thread::current().id(), me, "still locked once");
            window.store(false, Ordering::SeqCst);
            goro::unlock_os_thread();
            me
        });
        // Many other green threads run meanwhile, on whatever threads they get.
        let others: Vec<_> = (0..8)
            .map(|_| {
                let (seen, window) = (seen.clone(), window2.clone());
                goro::go(move || {
                    for _ in 0..200 {
                        let tid = std::thread::current().id();
                        if window.load(Ordering::SeqCst) {
                            seen.lock().unwrap().insert(tid);
                        }
                        goro::yield_now();
                        goro::sleep(Duration::from_micros(100));
                    }
                })
            })
            .collect();
        for i in 0..50 {
            tx.send(i).unwrap();
        }
        let me = locked.join().unwrap();
        for h in others {
            h.join().unwrap();
        }
        (me, goro::metrics().unwrap())
    });
    assert!(
        !seen_elsewhere.lock().unwrap().contains(&locked_tid),
        "another green thread ran on the locked thread"
    );
    assert!(
        others.handoffs >= 1,
        "the locked worker gave its processor away"
    );
}

#[test]
fn a_locked_green_thread_that_finishes_releases_its_thread() {
    goro::run(|| {
        let h = goro::go(|| {
            goro::lock_os_thread();
            goro::sleep(Duration::from_millis(2));
            std::thread::current().id()
        });
        h.join().unwrap();
        // Its thread is free again: a spare, waiting to be handed a processor.
        let t = std::time::Instant::now();
        while goro::metrics().unwrap().spare_threads == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the thread stayed locked"
            );
            goro::sleep(Duration::from_millis(1));
        }
        // And the runtime still runs everything.
        let hs: Vec<_> = (0..100).map(|_| goro::go(goro::yield_now)).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}
