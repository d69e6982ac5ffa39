//! `goro::blocking` as Go's `entersyscallblock`: the worker hands its processor off before
//! the call, the call runs on the calling thread (so it may borrow, and need not be
//! `Send`), the green thread continues on a worker afterwards, and the threads come from
//! the runtime's one budget.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use goro_runtime::{blocking, go, metrics};

mod common;
use common::{is_child, rt, run_child};

fn os_thread() -> std::thread::ThreadId {
    std::thread::current().id()
}

#[test]
fn the_processor_is_handed_off_before_the_call_starts() {
    rt(1).block_on(|| {
        let before = metrics().unwrap().handoffs;
        let during = blocking(|| metrics().unwrap().handoffs);
        assert_eq!(during, before + 1, "handed off at once, not after a delay");
        // The only processor went to a spare: a green thread runs while this one's call
        // spins (no sysmon involved: a spinning thread is only handed off after 10 ms).
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let other = go(move || r.store(true, SeqCst));
        blocking(|| {
            while !ran.load(SeqCst) {
                std::hint::spin_loop();
            }
        });
        other.join().unwrap();
    });
}

#[test]
fn the_call_runs_on_the_calling_thread_and_may_borrow_what_is_not_send() {
    rt(2).block_on(|| {
        let local = Rc::new(Cell::new(1)); // neither Send nor 'static
        let caller = os_thread();
        let (inside, v) = blocking(|| {
            local.set(local.get() + 1);
            (os_thread(), local.get())
        });
        assert_eq!(inside, caller, "the call runs where it was made");
        assert_eq!(v, 2);
        assert_eq!(local.get(), 2);
        // Afterwards the green thread runs on a worker with a processor again: its spawns
        // and wake-ups work as before.
        let sum: u32 = (0..100)
            .map(|i| go(move || i))
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(sum, 4950);
    });
}

#[test]
fn nested_and_panicking_calls() {
    rt(2).block_on(|| {
        assert_eq!(blocking(|| blocking(|| 7) + 1), 8);
        let p = go(|| blocking(|| -> u8 { panic!("inside blocking") })).join();
        assert!(p.is_err(), "the panic unwinds into the caller");
        assert_eq!(blocking(|| 3), 3, "the runtime goes on");
    });
}

#[test]
fn a_locked_green_thread_stays_on_its_thread_through_a_call() {
    rt(2).block_on(|| {
        go(|| {
            goro_runtime::lock_os_thread();
            let me = os_thread();
            assert_eq!(blocking(os_thread), me);
            goro_runtime::sleep(Duration::from_millis(1));
            assert_eq!(os_thread(), me, "still locked after the call");
            goro_runtime::unlock_os_thread();
        })
        .join()
        .unwrap();
    });
}

#[test]
fn many_concurrent_calls_run_in_parallel_on_spare_threads() {
    rt(2).block_on(|| {
        let start = std::time::Instant::now();
        let hs: Vec<_> = (0..32)
            .map(|_| go(|| blocking(|| std::thread::sleep(Duration::from_millis(100)))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // One after another they would take 3.2 s.
        assert!(
            start.elapsed() < Duration::from_millis(2500),
            "{:?}",
            start.elapsed()
        );
        let m = metrics().unwrap();
        assert!(m.handoffs >= 32, "{m:?}");
        assert!(m.worker_threads >= 2, "{m:?}");
    });
}

#[test]
fn the_thread_budget_bounds_blocking_calls_and_says_so() {
    const NAME: &str = "the_thread_budget_bounds_blocking_calls_and_says_so";
    if is_child(NAME) {
        let rt = goro_runtime::Runtime::builder()
            .workers(2)
            .max_threads(4)
            .build()
            .unwrap();
        let most = Arc::new(AtomicUsize::new(0));
        let m = most.clone();
        rt.block_on(move || {
            let hs: Vec<_> = (0..16)
                .map(|_| {
                    let m = m.clone();
                    go(move || {
                        blocking(|| {
                            let threads = metrics().unwrap().worker_threads;
                            m.fetch_max(threads, SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                        })
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        println!("child: most worker threads {}", most.load(SeqCst));
        return;
    }
    let (status, stdout, stderr) = run_child(NAME);
    assert!(status.success(), "{stdout}\n{stderr}");
    let most: usize = stdout
        .split("child: most worker threads ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(most <= 4, "the budget held: {most}");
    assert_eq!(
        stderr.matches("Builder::max_threads").count(),
        1,
        "one warning naming the knob: {stderr}"
    );
}

#[test]
fn host_names_are_resolved_off_the_worker() {
    rt(1).block_on(|| {
        let ln = goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = ln.local_addr().unwrap().port();
        let before = metrics().unwrap().handoffs;
        let _c = goro_runtime::net::TcpStream::connect(("localhost", port)).unwrap();
        assert!(
            metrics().unwrap().handoffs > before,
            "a host name goes through blocking"
        );
        let before = metrics().unwrap().handoffs;
        let _d = goro_runtime::net::TcpStream::connect(ln.local_addr().unwrap()).unwrap();
        assert_eq!(
            metrics().unwrap().handoffs,
            before,
            "an address value needs no resolution"
        );
    });
}

#[test]
fn dump_shows_a_green_thread_inside_a_call_as_in_a_syscall() {
    rt(2).block_on(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (in_tx, in_rx) = std::sync::mpsc::channel::<()>();
        // Named: the dump covers every runtime of the process, and other tests' runtimes
        // have green threads in calls too.
        let h = goro_runtime::Spawn::new().name("in-a-call").go(move || {
            blocking(move || {
                in_tx.send(()).unwrap();
                rx.recv().unwrap();
            })
        });
        blocking(|| in_rx.recv().unwrap());
        let text = goro_runtime::dump();
        tx.send(()).unwrap();
        h.join().unwrap();
        let mine = |dump: &str| {
            dump.split("\n\n")
                .find(|b| b.starts_with("goroutine ") && b.contains("\"in-a-call\""))
                .map(str::to_string)
        };
        let block = mine(&text).unwrap_or_else(|| panic!("{text}"));
        assert!(block.contains("[syscall (goro::blocking)"), "{block}");
        assert!(block.contains("on OS thread "), "{block}");
        let after = goro_runtime::dump();
        assert!(mine(&after).is_none(), "{after}");
    });
}

#[test]
fn run_returns_while_a_call_never_ends_and_names_the_green_thread() {
    const NAME: &str = "run_returns_while_a_call_never_ends_and_names_the_green_thread";
    if is_child(NAME) {
        let v = goro_runtime::run(|| {
            drop(go(|| {
                blocking(|| loop {
                    std::thread::sleep(Duration::from_secs(1));
                })
            }));
            goro_runtime::sleep(Duration::from_millis(20)); // the call is under way
            3
        });
        println!("child: run returned {v}");
        return;
    }
    let (_, stdout, stderr) = run_child(NAME);
    assert!(
        stdout.contains("child: run returned 3"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("inside a goro::blocking call"), "{stderr}");
}
