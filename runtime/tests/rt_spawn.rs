//! Spawning and joining: counts, nesting, OS threads, spreading across workers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use goro_runtime::{go, num_goroutines, run, Runtime};

mod common;

fn stress() -> bool {
    std::env::var_os("GORO_STRESS").is_some()
}

#[test]
fn spawn_and_join_100k() {
    let n = if stress() { 1_000_000 } else { 100_000 };
    let sum = run(move || {
        let hs: Vec<_> = (0..n as u64).map(|i| go(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
}

#[test]
fn nested_spawns() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let a = go(move || tree(depth - 1));
        let b = go(move || tree(depth - 1));
        a.join().unwrap() + b.join().unwrap()
    }
    assert_eq!(run(|| tree(12)), 4096);
}

#[test]
fn spawn_from_os_threads() {
    let rt = Arc::new(common::rt(2));
    let total = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (rt, total) = (rt.clone(), total.clone());
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..1000)
                    .map(|i| {
                        let total = total.clone();
                        rt.spawn(move || {
                            total.fetch_add(1, Ordering::Relaxed);
                            i
                        })
                    })
                    .collect();
                // Joined from a plain OS thread: blocks the thread.
                hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 999 * 1000 / 2);
    }
    assert_eq!(total.load(Ordering::Relaxed), 4000);
}

#[test]
fn join_from_os_thread_waits_for_parked_green_thread() {
    let rt = common::rt(1);
    let h = rt.spawn(|| {
        goro_runtime::sleep(std::time::Duration::from_millis(30));
        7
    });
    assert!(!h.is_finished());
    let t = std::thread::spawn(move || h.join().unwrap());
    assert_eq!(t.join().unwrap(), 7);
}

#[test]
fn work_spreads_across_all_workers() {
    // Green threads spawned on one processor run on every worker: each records the OS
    // thread it ran on after yielding a few times (yield points let thieves take them).
    let rt = common::rt(2);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let s = seen.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..2000)
            .map(|_| {
                let s = s.clone();
                go(move || {
                    let mut x = 0u64;
                    for i in 0..2000 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    std::hint::black_box(x);
                    s.lock()
                        .unwrap()
                        .insert(std::thread::current().name().unwrap().to_string());
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let seen = seen.lock().unwrap();
    // Two workers at least; a spare thread may have taken a processor over from a worker
    // that waited on the std `Mutex` above long enough for a handoff.
    assert!(seen.len() >= 2, "ran on: {seen:?}");
}

#[test]
fn num_goroutines_counts_main_and_returns_to_one() {
    run(|| {
        assert_eq!(num_goroutines(), 1);
        let gate = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let g = gate.clone();
                go(move || {
                    while g.load(Ordering::Acquire) == 0 {
                        goro_runtime::yield_now();
                    }
                })
            })
            .collect();
        assert_eq!(num_goroutines(), 11);
        gate.store(1, Ordering::Release);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(num_goroutines(), 1);
    });
    assert_eq!(num_goroutines(), 0, "outside any runtime");
}

#[test]
fn go_outside_runtime_panics_with_a_pointer_to_the_fix() {
    let err = std::panic::catch_unwind(|| go(|| ())).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("goro::run") && msg.contains("Runtime::spawn"),
        "{msg}"
    );
}

#[test]
fn builder_rejects_bad_input() {
    let e = Runtime::builder().workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("workers"));
    let e = Runtime::builder().stack_size(100).build().unwrap_err();
    assert!(e.to_string().contains("stack_size"), "{e}");
    let rt = Runtime::builder()
        .workers(3)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    assert_eq!(rt.workers(), 3);
    assert_eq!(rt.block_on(|| 5), 5);
}

#[test]
fn block_on_resumes_panics_in_the_caller() {
    let rt = Runtime::new().unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(|| panic!("inner"))
    }))
    .unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "inner");
    assert_eq!(rt.block_on(|| 1), 1, "the runtime survives");
}

#[test]
fn green_threads_are_recycled_without_leaking() {
    let rt = common::rt(2);
    for round in 0..5 {
        let n = rt.block_on(move || {
            let hs: Vec<_> = (0..5000).map(|i| go(move || i + round)).collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|v| *v >= round)
                .count()
        });
        assert_eq!(n, 5000);
        assert_eq!(rt.num_goroutines(), 0);
    }
    assert_eq!(rt.metrics().spawned, 5 * 5001);
}

#[test]
fn builder_run_uses_the_builders_options() {
    #[inline(never)]
    fn deep(n: u32) -> u32 {
        let pad = std::hint::black_box([n as u8; 1024]);
        if n == 0 {
            return pad[0] as u32;
        }
        deep(n - 1) + std::hint::black_box(pad[1]) as u32 % 2
    }
    // 1 000 frames of over 1 KiB each: more than the default 256 KiB reservation holds.
    let (workers, depth) = goro_runtime::Runtime::builder()
        .workers(1)
        .stack_size(8 << 20)
        .run(|| (goro_runtime::metrics().unwrap().processors, deep(1000)));
    assert_eq!(workers, 1);
    assert!(depth <= 1000);
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pooled G keeps its (small) join slot until it is reused, so the result of a detached
/// green thread must be dropped when it finishes, not with the slot; a joined one is
/// dropped once by its joiner, and a result whose handle is dropped late, by that drop.
#[test]
fn results_are_dropped_once_and_promptly() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    run(move || {
        // Detached before it finishes: dropped when it finishes.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(goro_runtime::sync::WaitGroup::new());
        gate.add(1);
        let (d1, g1) = (d.clone(), gate.clone());
        drop(go(move || {
            g1.wait();
            let c = Counted(d1);
            tx.send(()).unwrap();
            c
        }));
        gate.done();
        rx.recv().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while d.load(Ordering::SeqCst) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "detached result never dropped"
            );
            goro_runtime::yield_now();
        }
        assert_eq!(d.load(Ordering::SeqCst), 1);
        // Finished first, handle dropped later: dropped by the handle's drop.
        let h = go({
            let d = d.clone();
            move || Counted(d)
        });
        while !h.is_finished() {
            goro_runtime::yield_now();
        }
        assert_eq!(
            d.load(Ordering::SeqCst),
            1,
            "the finished result waits for its handle"
        );
        drop(h);
        assert_eq!(d.load(Ordering::SeqCst), 2);
        // Joined: the joiner owns it.
        let c = go({
            let d = d.clone();
            move || Counted(d)
        })
        .join()
        .unwrap();
        assert_eq!(d.load(Ordering::SeqCst), 2);
        drop(c);
        assert_eq!(d.load(Ordering::SeqCst), 3);
        // Many detached ones across workers: each dropped exactly once.
        let wg = goro_runtime::sync::WaitGroup::new();
        for _ in 0..10_000 {
            wg.add(1);
            let (d, wg) = (d.clone(), wg.clone());
            drop(go(move || {
                let c = Counted(d);
                wg.done();
                c
            }));
        }
        wg.wait();
        while d.load(Ordering::SeqCst) < 10_003 {
            assert!(
                std::time::Instant::now() < deadline,
                "detached results never dropped"
            );
            goro_runtime::yield_now();
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10_003);
}
