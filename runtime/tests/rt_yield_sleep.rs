//! yield_now fairness and sleep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro_runtime::{go, sleep, yield_now, Runtime};

mod common;

#[test]
fn yield_alternates_on_one_worker() {
    let rt = common::rt(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..2)
            .map(|id| {
                let l = l.clone();
                go(move || {
                    for _ in 0..100 {
                        l.lock().unwrap().push(id);
                        yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 200);
    // Fair round robin: neither green thread runs twice in a row (after both started).
    let switches = log.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 195, "only {switches} switches: {log:?}");
}

#[test]
fn a_spinning_green_thread_does_not_starve_others_that_yield() {
    let rt = common::rt(1);
    let done = rt.block_on(|| {
        let flag = Arc::new(AtomicUsize::new(0));
        let f = flag.clone();
        let waiter = go(move || {
            while f.load(Ordering::Acquire) == 0 {
                yield_now();
            }
        });
        let f = flag.clone();
        go(move || f.store(1, Ordering::Release)).join().unwrap();
        waiter.join().unwrap();
        true
    });
    assert!(done);
}

#[test]
fn sleep_parks_only_the_green_thread() {
    // One worker: while one green thread sleeps, another keeps running.
    let rt = common::rt(1);
    let (slept, ticks) = rt.block_on(|| {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = counter.clone();
        let sleeper = go(move || {
            let t = Instant::now();
            sleep(Duration::from_millis(50));
            t.elapsed()
        });
        let busy = go(move || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(20) {
                c.fetch_add(1, Ordering::Relaxed);
                yield_now();
            }
        });
        busy.join().unwrap();
        (sleeper.join().unwrap(), counter.load(Ordering::Relaxed))
    });
    assert!(slept >= Duration::from_millis(50), "{slept:?}");
    assert!(slept < Duration::from_secs(5), "{slept:?}");
    assert!(ticks > 10);
}

#[test]
fn many_sleepers_wake_in_order() {
    let rt = common::rt(2);
    let order = rt.block_on(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = [50u64, 10, 30, 0, 20, 40]
            .into_iter()
            .map(|ms| {
                let o = order.clone();
                go(move || {
                    sleep(Duration::from_millis(ms * 4));
                    o.lock().unwrap().push(ms);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn sleep_accepts_any_duration() {
    sleep(Duration::ZERO); // OS thread
    let rt = Runtime::new().unwrap();
    rt.block_on(|| sleep(Duration::ZERO));
    // Duration::MAX does not panic: the green thread just never wakes; shutdown unwinds it.
    let h = rt.spawn(|| sleep(Duration::MAX));
    std::thread::sleep(Duration::from_millis(10));
    assert!(!h.is_finished());
    drop(rt);
    assert!(h.join().is_err());
}

#[test]
fn sleep_on_os_thread_blocks_it() {
    let t = Instant::now();
    sleep(Duration::from_millis(20));
    assert!(t.elapsed() >= Duration::from_millis(20));
}
