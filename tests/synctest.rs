//! `goro::synctest`: virtual time, durable blocking, isolation and replayable schedules,
//! with Go's own tests (`src/internal/synctest/synctest_test.go`) ported through the
//! facade. Times compare exactly: inside a bubble they are virtual.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::{self, Receiver, Sender};
use goro::sync::{Condvar, Mutex, WaitGroup};
use goro::time::{after_func, now, Timer};
use goro::{go, sleep, synctest, yield_now};

mod common;

const SEC: Duration = Duration::from_secs(1);

/// The panic message of `f`.
fn panic_message(f: impl FnOnce()) -> String {
    let p = catch_unwind(AssertUnwindSafe(f)).expect_err("should panic");
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn now_moves_only_when_every_green_thread_is_blocked() {
    let wall = Instant::now();
    synctest::test(|| {
        let start = now();
        let h = go(move || assert_eq!(now(), start, "a new green thread sees the same clock"));
        h.join().unwrap();
        assert_eq!(now(), start, "time stands still while green threads run");
        sleep(SEC);
        assert_eq!(now() - start, SEC);
        sleep(Duration::from_secs(3600));
        assert_eq!(now() - start, SEC + Duration::from_secs(3600));
    });
    // An hour and a second of bubble time: milliseconds of real time (generous bound).
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "{:?}",
        wall.elapsed()
    );
}

#[test]
fn empty_and_trivial_bubbles_return() {
    synctest::test(|| {});
    synctest::test(synctest::wait);
    synctest::test(|| {
        go(|| {});
        synctest::wait();
    });
    assert_eq!(synctest::test(|| 7), 7);
}

/// Go's TestWait: a chain of 100 green threads handing a count down a channel; `wait`
/// returns once all of it is done.
#[test]
fn wait_returns_once_the_others_are_done_or_blocked() {
    synctest::test(|| {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = chan::bounded::<u32>(0);
        fn step(tx: Sender<u32>, rx: Receiver<u32>, done: Arc<AtomicBool>) {
            let count = rx.recv().unwrap();
            if count == 0 {
                done.store(true, SeqCst);
            } else {
                let (t2, r2, d2) = (tx.clone(), rx.clone(), done.clone());
                go(move || step(t2, r2, d2));
                tx.send(count - 1).unwrap();
            }
        }
        {
            let (tx, rx, done) = (tx.clone(), rx.clone(), done.clone());
            go(move || step(tx, rx, done));
        }
        tx.send(100).unwrap();
        synctest::wait();
        assert!(done.load(SeqCst));
    });
}

#[test]
fn timers_fire_at_their_virtual_deadlines() {
    synctest::test(|| {
        // Read before the deadline.
        let start = now();
        let t = Timer::new(5 * SEC);
        t.receiver().recv().unwrap();
        assert_eq!(now() - start, 5 * SEC);
        // Read after the deadline: the value is the time it fired.
        let want = now() + SEC;
        let t = Timer::new(SEC);
        sleep(2 * SEC);
        assert_eq!(t.receiver().recv().unwrap(), want);
        // Reset (Go's TestTimerReset).
        let start = now();
        let t = Timer::new(SEC);
        assert_eq!(t.receiver().recv().unwrap(), start + SEC);
        t.reset(2 * SEC);
        assert_eq!(t.receiver().recv().unwrap(), start + 3 * SEC);
        t.reset(3 * SEC);
        sleep(SEC);
        t.reset(3 * SEC);
        assert_eq!(t.receiver().recv().unwrap(), start + 7 * SEC);
    });
}

/// A zero-length timer or `after_func` is due at once, without the bubble blocking.
#[test]
fn zero_timers_run_immediately() {
    synctest::test(|| {
        let start = now();
        let t = Timer::new(Duration::ZERO);
        let got = goro::select! {
            recv(t.receiver()) -> v => v.unwrap(),
            default => panic!("a 0-duration timer's channel is ready at once"),
        };
        assert_eq!(got, start);
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        after_func(Duration::ZERO, move || r.store(true, SeqCst));
        while !ran.load(SeqCst) {
            yield_now();
        }
    });
}

/// Go's TestTimeAfter: a bubble's `after_func` runs in the bubble, and what it starts too.
#[test]
fn after_func_belongs_to_the_bubble() {
    synctest::test(|| {
        let i = Arc::new(AtomicU32::new(0));
        let i2 = i.clone();
        after_func(SEC, move || {
            i2.fetch_add(1, SeqCst);
            go(move || {
                sleep(SEC);
                i2.fetch_add(1, SeqCst);
            });
        });
        sleep(3 * SEC);
        synctest::wait();
        assert_eq!(i.load(SeqCst), 2);
    });
}

/// Go's TestTimerAfterBubbleExit: the bubble ends without advancing time for a timer.
#[test]
fn a_pending_timer_does_not_keep_the_bubble() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    synctest::test(move || {
        after_func(SEC, move || r.store(true, SeqCst));
    });
    assert!(!ran.load(SeqCst));
}

/// Go's TestTimerNondeterminism and TestSleepNondeterminism: timers due at the same
/// instant fire in either order.
#[test]
fn timers_due_together_fire_in_either_order() {
    synctest::test(|| {
        let (mut seen1, mut seen2) = (false, false);
        for _ in 0..1000 {
            let (t1, t2) = (
                Timer::new(Duration::from_nanos(1)),
                Timer::new(Duration::from_nanos(1)),
            );
            goro::select! {
                recv(t1.receiver()) -> _ => seen1 = true,
                recv(t2.receiver()) -> _ => seen2 = true,
            }
            if seen1 && seen2 {
                break;
            }
            synctest::wait();
        }
        assert!(
            seen1 && seen2,
            "timer 1 first: {seen1}, timer 2 first: {seen2}"
        );
        let (mut seen1, mut seen2) = (false, false);
        for _ in 0..1000 {
            let first = Arc::new(AtomicU32::new(0));
            for id in [1, 2] {
                let first = first.clone();
                go(move || {
                    sleep(Duration::from_nanos(1));
                    let _ = first.compare_exchange(0, id, SeqCst, SeqCst);
                });
            }
            sleep(Duration::from_nanos(1));
            synctest::wait();
            match first.load(SeqCst) {
                1 => seen1 = true,
                2 => seen2 = true,
                v => panic!("first = {v}"),
            }
            if seen1 && seen2 {
                break;
            }
        }
        assert!(
            seen1 && seen2,
            "sleeper 1 first: {seen1}, sleeper 2 first: {seen2}"
        );
    });
}

/// Go's TestCond and TestWaitGroupInBubble.
#[test]
fn condvar_and_wait_group_waits_are_durable() {
    synctest::test(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let start = now();
        let p = pair.clone();
        go(move || {
            sleep(Duration::from_millis(1));
            *p.0.lock() = true;
            p.1.notify_one();
        });
        let mut ready = pair.0.lock();
        while !*ready {
            ready = pair.1.wait(ready);
        }
        drop(ready);
        assert_eq!(now() - start, Duration::from_millis(1));

        let wg = WaitGroup::new();
        wg.add(1);
        let w = wg.clone();
        go(move || {
            sleep(SEC);
            w.done();
        });
        let start = now();
        wg.wait();
        assert_eq!(now() - start, SEC);
    });
}

/// Context deadlines and channel timeouts use the bubble's clock.
#[test]
fn deadlines_and_timeouts_are_virtual() {
    synctest::test(|| {
        let start = now();
        let (ctx, _cancel) = goro::context::Context::background().with_timeout(30 * SEC);
        let _ = ctx.done().recv();
        assert_eq!(now() - start, 30 * SEC);
        assert!(ctx.err().is_some());
        let (_tx, rx) = chan::bounded::<()>(0);
        let start = now();
        assert!(rx.recv_timeout(5 * SEC).is_err());
        assert_eq!(now() - start, 5 * SEC);
        let start = now();
        goro::select! {
            recv(rx) -> _ => unreachable!(),
            recv(goro::time::after(2 * SEC)) -> _ => {}
        }
        assert_eq!(now() - start, 2 * SEC);
    });
}

/// Go's TestChannelFromOutsideBubble: a wait on a channel made outside is not durable;
/// the bubble waits for the outside party in real time.
#[test]
fn a_channel_made_outside_is_not_durable() {
    for case in [
        "read closed",
        "read value",
        "write value",
        "select outside only",
        "select mixed",
    ] {
        let (tx, rx) = chan::bounded::<i32>(0);
        let outside = std::thread::spawn({
            let (tx, rx) = (tx.clone(), rx.clone());
            move || {
                std::thread::sleep(Duration::from_millis(5));
                match case {
                    "read value" => tx.send(0).unwrap(),
                    "write value" => drop(rx.recv()),
                    _ => drop(tx.close()),
                }
            }
        });
        synctest::test(move || match case {
            "write value" => tx.send(0).unwrap(),
            "select mixed" => {
                let (_t2, r2) = chan::bounded::<()>(0);
                goro::select! {
                    recv(rx) -> _ => {}
                    recv(r2) -> _ => unreachable!(),
                }
            }
            "select outside only" => goro::select! { recv(rx) -> _ => {} },
            _ => drop(rx.recv()),
        });
        outside.join().unwrap();
    }
}

/// Go's TestWaitGroupOutOfBubble: a wait group counted outside is not durable inside.
#[test]
fn a_wait_group_counted_outside_is_not_durable() {
    let wg = WaitGroup::new();
    wg.add(1);
    let done = Arc::new(AtomicBool::new(false));
    let bubble = std::thread::spawn({
        let (wg, done) = (wg.clone(), done.clone());
        move || {
            synctest::test(move || wg.wait());
            done.store(true, SeqCst);
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !done.load(SeqCst),
        "the bubble ended before the outside `done`"
    );
    wg.done();
    bubble.join().unwrap();
    assert!(done.load(SeqCst));
}

/// Go's TestChannelMovedOutOfBubble and TestTimerFromInsideBubble: a bubble's channel or
/// timer used outside it panics.
#[test]
fn a_bubbles_channel_or_timer_used_outside_panics() {
    let (tx, rx) = synctest::test(|| chan::bounded::<()>(1));
    for (what, op) in [
        ("send", Box::new(|| tx.send(()).unwrap()) as Box<dyn Fn()>),
        ("receive", Box::new(|| assert!(rx.try_recv().is_err()))),
        ("close", Box::new(|| assert!(tx.close()))),
    ] {
        let msg = panic_message(&*op);
        assert!(msg.contains("synctest bubble"), "{what}: {msg}");
    }
    // From another bubble.
    let (tx, _rx) = synctest::test(|| chan::bounded::<()>(1));
    let msg = panic_message(move || synctest::test(move || tx.send(()).unwrap()));
    assert!(msg.contains("synctest bubble"), "{msg}");
    // A bubble's timer.
    let t = Arc::new(synctest::test(|| Timer::new(SEC)));
    for op in [
        Box::new({
            let t = t.clone();
            move || assert!(t.receiver().try_recv().is_err())
        }) as Box<dyn Fn()>,
        Box::new({
            let t = t.clone();
            move || assert!(t.reset(SEC))
        }),
        Box::new({
            let t = t.clone();
            move || assert!(t.stop())
        }),
    ] {
        let msg = panic_message(&*op);
        assert!(msg.contains("synctest bubble"), "{msg}");
    }
}

/// Go's TestDeadlockRoot: everything durably blocked, no timer: the test fails at once
/// with the bubble's dump and its seed.
#[test]
fn a_deadlocked_bubble_fails_at_once_with_its_dump() {
    let wall = Instant::now();
    let msg = panic_message(|| {
        synctest::test(|| {
            let (_tx, rx) = chan::bounded::<()>(0);
            let _ = rx.recv();
        })
    });
    assert!(msg.contains("goro::synctest: deadlock"), "{msg}");
    assert!(msg.contains("[chan receive"), "the dump:\n{msg}");
    assert!(msg.contains("GORO_SEED="), "{msg}");
    assert!(wall.elapsed() < Duration::from_secs(10));
}

/// Go's TestDeadlockChild and TestDeadlockTicker: green threads left blocked when the
/// test function returns fail the test and are named, even with a ticker pending.
#[test]
fn green_threads_left_blocked_fail_the_test_and_are_named() {
    let msg = panic_message(|| {
        synctest::test(|| {
            goro::Spawn::new().name("left-behind").go(|| {
                let (_tx, rx) = chan::bounded::<()>(0);
                let _ = rx.recv();
            });
        })
    });
    assert!(msg.contains("the test function returned"), "{msg}");
    assert!(msg.contains("\"left-behind\""), "{msg}");
    let msg = panic_message(|| {
        synctest::test(|| {
            go(|| {
                if goro::time::tick(SEC).recv().is_ok() {
                    panic!("the ticker ran after the test function returned");
                }
            });
        })
    });
    assert!(msg.contains("the test function returned"), "{msg}");
}

/// Green threads still running when the test function returns are waited for (time
/// stands still from then on, as in Go: they must finish without it).
#[test]
fn the_test_waits_for_green_threads_that_finish() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    synctest::test(move || {
        let (release, released) = chan::bounded::<()>(0);
        for _ in 0..10 {
            let (f, released) = (f.clone(), released.clone());
            go(move || {
                let _ = released.recv(); // until the test function returns
                for _ in 0..100 {
                    yield_now();
                }
                f.fetch_add(1, SeqCst);
            });
        }
        sleep(SEC);
        drop(release);
    });
    assert_eq!(finished.load(SeqCst), 10);
}

/// A green thread waiting on a `Mutex` that a green thread of the bubble holds across a
/// sleep is durably blocked (in Go it is not, and such a test hangs): time advances to the
/// holder's wake-up.
#[test]
fn a_lock_held_across_a_sleep_is_waited_for() {
    synctest::test(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.clone();
        let holder = go(move || {
            let mut g = held.lock();
            sleep(SEC);
            *g += 1;
        });
        sleep(Duration::from_millis(1));
        let start = now();
        *m.lock() += 1;
        assert_eq!(now() - start, SEC - Duration::from_millis(1));
        holder.join().unwrap();
        assert_eq!(*m.lock(), 2);
    });
}

/// The same seed gives the same schedule; different seeds give different ones.
#[test]
fn a_seed_replays_its_schedule() {
    fn schedule() -> Vec<u32> {
        let (a_tx, a_rx) = chan::bounded::<u32>(64);
        let (b_tx, b_rx) = chan::bounded::<u32>(64);
        for i in 0..32 {
            a_tx.send(i).unwrap();
            b_tx.send(100 + i).unwrap();
        }
        let mut order = Vec::new();
        for _ in 0..32 {
            goro::select! {
                recv(a_rx) -> v => order.push(v.unwrap()),
                recv(b_rx) -> v => order.push(v.unwrap()),
            }
        }
        order
    }
    let one = synctest::test_with_seed(42, schedule);
    let again = synctest::test_with_seed(42, schedule);
    assert_eq!(one, again, "seed 42 twice");
    let others: Vec<_> = (1..=4)
        .map(|s| synctest::test_with_seed(s, schedule))
        .collect();
    assert!(
        others.iter().any(|o| *o != one),
        "four other seeds, all the same schedule"
    );
    assert_eq!(synctest::test_with_seed(9, synctest::seed), Some(9));
    assert_eq!(synctest::seed(), None);
}

/// `explore` runs under many seeds and names the failing one; `GORO_SEED` replays it.
#[test]
fn explore_names_the_failing_seed_and_goro_seed_replays_it() {
    const CHILD: &str = "explore_names_the_failing_seed_and_goro_seed_replays_it";
    if common::is_child(CHILD) {
        // Fails for about half the seeds: which case a select with two ready cases picks.
        synctest::explore(64, || {
            let (tx, rx) = chan::bounded::<u32>(2);
            let (tx2, rx2) = chan::bounded::<u32>(2);
            tx.send(1).unwrap();
            tx2.send(2).unwrap();
            let got = goro::select! {
                recv(rx) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
            assert_eq!(got, 1, "the select took the second case");
        });
        return;
    }
    let out = common::output_within(common::child_command(CHILD), Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "some seed must fail:\n{err}");
    let seed: u64 = err
        .split("GORO_SEED=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seed in:\n{err}"));
    // Replaying that seed fails the same way, every time.
    for _ in 0..3 {
        let mut cmd = common::child_command(CHILD);
        cmd.env("GORO_SEED", seed.to_string());
        let out = common::output_within(cmd, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "GORO_SEED={seed} passed:\n{err}");
        assert!(err.contains(&format!("GORO_SEED={seed}")), "{err}");
        assert!(err.contains("the select took the second case"), "{err}");
    }
}

#[test]
fn wait_outside_a_bubble_and_nested_bubbles_panic() {
    assert!(panic_message(synctest::wait).contains("outside a synctest bubble"));
    let msg = panic_message(|| synctest::test(|| synctest::test(|| {})));
    assert!(msg.contains("do not nest"), "{msg}");
}

/// The run order is the seed's too: which of two green threads readied together runs
/// first differs between seeds, and is the same under one seed.
#[test]
fn seeds_explore_run_orders() {
    fn first_to_run() -> &'static str {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let order = order.clone();
                go(move || order.lock().push(name))
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let first = order.lock()[0];
        first
    }
    let firsts: Vec<_> = (1..=16)
        .map(|s| synctest::test_with_seed(s, first_to_run))
        .collect();
    assert!(firsts.contains(&"a") && firsts.contains(&"b"), "{firsts:?}");
    for s in 1..=16 {
        assert_eq!(
            synctest::test_with_seed(s, first_to_run),
            firsts[s as usize - 1]
        );
    }
}
