//! Stack traces in `dump()` (the default `stack-traces` feature, x86_64): each switched-out
//! green thread's frames from its park or yield out to the function it was started with,
//! taken without running it; `dump_to`; `Builder::dump_on_sigquit`.
#![cfg(target_arch = "x86_64")]

mod common;
use common::*;

use std::time::Duration;

/// The block of the dump that describes the green thread named `name` (names keep the
/// tests apart: the dump covers every runtime in the process).
fn block_of(dump: &str, name: &str) -> String {
    let quoted = format!("{name:?} [");
    dump.split("\n\n")
        .find(|b| b.starts_with("goroutine ") && b.lines().next().unwrap().contains(&quoted))
        .unwrap_or_else(|| panic!("no goroutine {name:?} in:\n{dump}"))
        .to_string()
}

fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> goro::JoinHandle<T> {
    goro::Spawn::new().name(name).go(f)
}

#[inline(never)]
fn wait_for_orders(orders: goro::chan::Receiver<u32>) -> u32 {
    orders.recv().unwrap_or(0)
}

#[inline(never)]
fn nap() -> u32 {
    goro::sleep(Duration::from_secs(30));
    std::hint::black_box(1) // not a tail call: this frame stays on the stack
}

#[inline(never)]
fn spinner(
    started: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u32 {
    started.store(true, std::sync::atomic::Ordering::Relaxed);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        goro::yield_now();
    }
    std::hint::black_box(1)
}

#[test]
fn the_dump_shows_where_each_green_thread_is_blocked() {
    rt(2).block_on(|| {
        let (tx, rx) = goro::chan::bounded::<u32>(0);
        let waiter = named("waiter", move || wait_for_orders(rx));
        let napper = named("napper", nap);
        goro::sleep(Duration::from_millis(50));
        let mut out = Vec::new();
        goro::dump_to(&mut out).unwrap();
        let dump = String::from_utf8(out).unwrap();

        let waiting = block_of(&dump, "waiter");
        assert!(waiting.contains("[chan receive"), "{waiting}");
        let park = waiting.find("park_green").expect("the park point");
        let mine = waiting
            .find("wait_for_orders")
            .expect("the user's function");
        assert!(park < mine, "innermost frame first:\n{waiting}");
        assert!(waiting.contains("tests/stack_traces.rs:"), "{waiting}");
        assert!(!waiting.contains("corosensei"), "machinery cut:\n{waiting}");
        assert!(
            !waiting.contains("catch_unwind"),
            "machinery cut:\n{waiting}"
        );
        let napping = block_of(&dump, "napper");
        assert!(napping.contains("[sleep"), "{napping}");
        assert!(napping.contains("nap"), "{napping}");
        tx.send(7).unwrap();
        assert_eq!(waiter.join().unwrap(), 7);
        drop(napper);
    });
}

#[test]
fn a_yielded_green_thread_shows_its_stack_too() {
    rt(1).block_on(|| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (stop.clone(), started.clone());
        let h = named("spinner", move || spinner(st, s));
        // One worker: while this code runs, the spinner has yielded (once it started)...
        while !started.load(std::sync::atomic::Ordering::Relaxed) {
            goro::yield_now();
        }
        // ... unless a long dump (other tests' runtimes are in it too) made sysmon hand
        // the processor to a spare meanwhile: then the spinner runs, and the next try
        // finds it switched out.
        let mut last = String::new();
        let found = (0..50).any(|_| {
            goro::yield_now();
            last = block_of(&goro::dump(), "spinner");
            last.contains("[runnable") && last.contains("yield_green") && last.contains("spinner")
        });
        assert!(found, "{last}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        h.join().unwrap();
    });
}

/// The dump reads stacks of green threads that keep running, parking and moving between
/// workers: a trace either describes one switch or is dropped, and nothing crashes.
#[test]
fn dumps_taken_while_green_threads_run_never_crash() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let rt = rt(2);
    let (stop, dumps) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (s, d) = (stop.clone(), dumps.clone());
    let dumper = std::thread::spawn(move || {
        let mut traced = 0;
        while !s.load(Ordering::Relaxed) {
            traced += goro::dump().matches("park_green").count();
            d.fetch_add(1, Ordering::Relaxed);
        }
        traced
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let counted = dumps.clone();
    rt.block_on(move || {
        // Rounds of ping-pong until the dumper has dumped 30 times.
        while counted.load(Ordering::Relaxed) < 30 && std::time::Instant::now() < deadline {
            let hs: Vec<_> = (0..64)
                .map(|_| {
                    let (tx, rx) = goro::chan::bounded::<u64>(0);
                    let echo = goro::go(move || rx.into_iter().sum::<u64>());
                    goro::go(move || {
                        for i in 0..200 {
                            tx.send(i).unwrap();
                            if i % 7 == 0 {
                                goro::yield_now();
                            }
                        }
                        drop(tx);
                        echo.join().unwrap()
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), (0..200).sum::<u64>());
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    let traced = dumper.join().unwrap();
    eprintln!(
        "{} dumps traced {traced} stacks while the green threads ran",
        dumps.load(Ordering::Relaxed)
    );
}

#[test]
fn a_dump_of_thousands_of_parked_green_threads_says_how_long_it_took() {
    rt(2).block_on(|| {
        let (tx, rx) = goro::chan::bounded::<u32>(0);
        let hs: Vec<_> = (0..5_000)
            .map(|_| {
                let rx = rx.clone();
                goro::go(move || wait_for_orders(rx))
            })
            .collect();
        goro::sleep(Duration::from_millis(100));
        let dump = goro::dump();
        assert!(
            dump.contains("(dump of 5001 green threads took"),
            "{}",
            &dump[dump.len().saturating_sub(200)..]
        );
        assert!(dump.matches("wait_for_orders").count() >= 4_900);
        drop(tx);
        for h in hs {
            assert_eq!(h.join().unwrap(), 0);
        }
    });
}

#[inline(never)]
fn waiting_here(rx: goro::chan::Receiver<()>) {
    let _ = rx.recv();
}

/// `kill -QUIT`: the dump goes to stderr and the program goes on.
#[test]
fn sigquit_prints_the_dump_and_the_program_goes_on() {
    const NAME: &str = "sigquit_prints_the_dump_and_the_program_goes_on";
    if is_child(NAME) {
        let rt = goro::Runtime::builder()
            .workers(1)
            .dump_on_sigquit(true)
            .build()
            .unwrap();
        rt.block_on(|| {
            let (tx, rx) = goro::chan::bounded::<()>(0);
            let h = goro::go(move || waiting_here(rx));
            goro::sleep(Duration::from_millis(20));
            // The first dump of a process loads its debug info, which takes a while on a
            // busy machine: done here, so the signal's dump comes quickly.
            let _ = goro::dump();
            // SAFETY: raise(3) sends a signal to this process; the handler is installed.
            unsafe { libc::raise(libc::SIGQUIT) };
            goro::sleep(Duration::from_secs(2));
            drop(tx);
            h.join().unwrap();
        });
        println!("still running");
        return;
    }
    let (status, stdout, stderr) = run_child(NAME);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stdout.contains("still running"), "{stdout}");
    assert!(stderr.contains("SIGQUIT: goroutine dump"), "{stderr}");
    assert!(stderr.contains("waiting_here"), "{stderr}");
}
