//! Panics stay inside their green thread; dropping a runtime unwinds what is left.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro_runtime::park::{self, WaitReason};
use goro_runtime::{go, run, Runtime, SHUTDOWN_PAYLOAD};

#[test]
fn panic_is_delivered_by_join_and_the_runtime_keeps_going() {
    run(|| {
        let n = std::hint::black_box(42);
        let h = go(move || -> u32 { panic!("boom {n}") });
        let err = h.join().unwrap_err();
        assert_eq!(err.downcast_ref::<String>().unwrap(), "boom 42");
        // Others still run.
        let hs: Vec<_> = (0..100).map(|i| go(move || i)).collect();
        assert_eq!(hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), 4950);
    });
}

#[test]
fn many_panics_do_not_leak_or_poison() {
    let rt = common::rt(2);
    let errs = rt.block_on(|| {
        let hs: Vec<_> = (0..1000)
            .map(|i| go(move || if i % 2 == 0 { panic!("even") } else { i }))
            .collect();
        hs.into_iter()
            .filter(|_| true)
            .map(|h| h.join().is_err() as usize)
            .sum::<usize>()
    });
    assert_eq!(errs, 500);
    assert_eq!(rt.num_goroutines(), 0);
}

struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Parks forever (nobody keeps its unparker).
fn park_forever() {
    loop {
        park::park(WaitReason::Other, || {});
    }
}

#[test]
fn drop_unwinds_parked_green_threads_and_runs_destructors() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = common::rt(2);
    let mut handles = Vec::new();
    for _ in 0..100 {
        let guard = DropCounter(drops.clone());
        handles.push(rt.spawn(move || {
            let _g = guard;
            park_forever();
        }));
    }
    // Some never even start: spawned after the others, into the global queue.
    let d = drops.clone();
    rt.block_on(move || {
        while goro_runtime::num_goroutines() < 101 {
            goro_runtime::yield_now();
        }
        let _keep = DropCounter(d);
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "only the finished main's guard"
    );
    drop(rt);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        101,
        "every parked green thread was unwound"
    );
    for h in handles {
        let err = h.join().unwrap_err();
        assert_eq!(*err.downcast_ref::<&str>().unwrap(), SHUTDOWN_PAYLOAD);
    }
}

#[test]
fn run_returns_after_left_behind_green_threads_are_unwound() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    run(move || {
        for _ in 0..10 {
            let g = DropCounter(d.clone());
            go(move || {
                let _g = g;
                park_forever();
            });
        }
        goro_runtime::sleep(Duration::from_millis(5));
    });
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn unstarted_green_threads_are_dropped_at_shutdown() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = common::rt(1);
    let d = drops.clone();
    // The spawner never yields, so the 50 children are still queued when the runtime drops.
    let release = Arc::new(AtomicUsize::new(0));
    let r = release.clone();
    let spawner = rt.spawn(move || {
        for _ in 0..50 {
            let g = DropCounter(d.clone());
            go(move || drop(g));
        }
        while r.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    release.store(1, Ordering::Release);
    spawner.join().unwrap();
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 50);
}

#[test]
fn a_destructor_panicking_at_shutdown_is_reported_with_the_green_thread() {
    // Rust aborts when a panic escapes a destructor during unwinding; goro cannot continue
    // the shutdown, but it names the green thread and its spawn site before the abort.
    const NAME: &str = "a_destructor_panicking_at_shutdown_is_reported_with_the_green_thread";
    if common::is_child(NAME) {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom in a destructor");
            }
        }
        let rt = goro_runtime::Runtime::new().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        rt.spawn(move || {
            let _bomb = Bomb;
            drop(tx);
            goro_runtime::sleep(std::time::Duration::from_secs(3600));
        });
        let _ = rx.recv();
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(rt);
        unreachable!("the abort comes first");
    }
    let out = common::child_command(NAME)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("boom in a destructor"), "{stderr}");
    assert!(
        stderr.contains("panicked while being unwound at shutdown, in a destructor"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rt_panic_shutdown.rs"),
        "spawn site: {stderr}"
    );
}

#[test]
fn run_returns_even_if_a_detached_green_thread_never_parks() {
    // Go: returning from main ends the program. `run` waits briefly for the workers, then
    // abandons the one that is stuck in a green thread, naming it.
    const NAME: &str = "run_returns_even_if_a_detached_green_thread_never_parks";
    if common::is_child(NAME) {
        for workers in ["1", "2"] {
            std::env::set_var("GORO_MAXPROCS", workers);
            let v = goro_runtime::run(move || {
                let started = Arc::new(AtomicUsize::new(0));
                let s = started.clone();
                drop(goro_runtime::go(move || {
                    s.store(1, Ordering::SeqCst);
                    loop {
                        std::hint::spin_loop();
                    }
                }));
                // On 2 workers, wait (without parking) until the other worker is stuck in
                // it; on 1 it cannot start before `main` returns.
                while workers == "2" && started.load(Ordering::SeqCst) == 0 {
                    std::hint::spin_loop();
                }
                3
            });
            println!("run returned {v} on {workers} workers");
        }
        return;
    }
    let out = common::output_within(common::child_command(NAME), Duration::from_secs(60));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("run returned 3 on 2 workers"), "{stdout}");
    assert!(
        stderr.contains("was still running without ever parking"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rt_panic_shutdown.rs"),
        "spawn site: {stderr}"
    );
}

#[test]
fn a_runtime_dropped_by_a_panic_unwinds_its_green_threads_without_aborting() {
    // The shutdown report's panic hook may not be installed from a panicking thread; a
    // runtime dropped while a panic unwinds past it once aborted trying.
    const NAME: &str = "a_runtime_dropped_by_a_panic_unwinds_its_green_threads_without_aborting";
    if common::is_child(NAME) {
        let r = std::panic::catch_unwind(|| {
            let rt = Runtime::new().unwrap();
            rt.spawn(|| goro_runtime::sleep(Duration::from_secs(3600)));
            std::thread::sleep(Duration::from_millis(20));
            panic!("a test assertion failed");
        });
        assert!(r.is_err());
        println!("CHILD survived");
        return;
    }
    let out = common::output_within(common::child_command(NAME), Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD survived"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In a fresh process every stack is cold, so green threads that never ran still hold
/// their closures boxed (`G::start` leaves the first frame to the worker that runs them):
/// shutdown must drop each exactly once, and those that did run must not be dropped again.
#[test]
fn green_threads_on_cold_stacks_that_never_ran_are_dropped_once_at_shutdown() {
    const NAME: &str = "green_threads_on_cold_stacks_that_never_ran_are_dropped_once_at_shutdown";
    if common::is_child(NAME) {
        unstarted_green_threads_are_dropped_at_shutdown();
        println!("child: dropped once each");
        return;
    }
    let (status, stdout, stderr) = common::run_child(NAME);
    assert!(
        status.success() && stdout.contains("child: dropped once each"),
        "{stdout}\n{stderr}"
    );
}

/// A burst of exits past the pool's bound retires green threads instead of freeing them on
/// the exiting workers; sysmon frees them in batches, and every captured value has been
/// dropped exactly once by then (at each green thread's exit, not at the reaping).
#[test]
fn retired_green_threads_are_freed_by_sysmon() {
    const N: usize = 20_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = common::rt(2);
    let d = drops.clone();
    rt.block_on(move || {
        let gate = goro_runtime::sync::WaitGroup::new();
        gate.add(1);
        let wg = goro_runtime::sync::WaitGroup::new();
        for _ in 0..N {
            wg.add(1);
            let (gate, wg, g) = (gate.clone(), wg.clone(), DropCounter(d.clone()));
            go(move || {
                let _g = g;
                gate.wait();
                wg.done();
            });
        }
        gate.done(); // every parked one wakes
        wg.wait();
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        N,
        "each value dropped once, at exit"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = rt.metrics();
        assert!(m.pooled_green_threads <= 4096, "{m:?}");
        if m.retired_green_threads == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reaped: {m:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), N);
}
