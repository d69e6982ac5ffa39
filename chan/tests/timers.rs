//! `goro::time`'s `Timer`, `Ticker` and `after_func` with Go 1.23's semantics: no stale
//! value after `stop`/`reset`, expired timers ready at the moment of a receive (and chosen
//! at random in a select), dropping cancels. On 1 and 2 workers and on plain threads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_chan::time::{after, after_func, Ticker, Timer};
use goro_chan::{select, RecvTimeoutError};

fn on(workers: usize, f: impl FnOnce() + Send + 'static) {
    goro_runtime::Runtime::builder()
        .workers(workers)
        .build()
        .unwrap()
        .block_on(f);
}

fn timer_semantics() {
    // Fired, then reset: the old value is gone once reset returns.
    let t = Timer::new(Duration::from_millis(1));
    goro_runtime::sleep(Duration::from_millis(20));
    assert!(
        t.reset(Duration::from_secs(3600)),
        "it fired, but its value was never received: still running (Go 1.23)"
    );
    assert!(
        t.receiver().try_recv().is_err(),
        "no stale value after reset"
    );
    assert!(t.stop(), "active again after the reset");
    assert!(!t.stop(), "stopped once");
    assert!(!t.reset(Duration::ZERO) && t.receiver().try_recv().is_ok());
    // Stop before it fires: nothing ever arrives.
    let t = Timer::new(Duration::from_millis(5));
    assert!(t.stop());
    let r = t.receiver().recv_timeout(Duration::from_millis(30));
    assert_eq!(r, Err(RecvTimeoutError::Timeout));
    // after(0) is ready at once.
    assert!(after(Duration::ZERO).try_recv().is_ok());
}

#[test]
fn timer_stop_and_reset_leave_no_stale_value_on_1_and_2_workers_and_plain_threads() {
    on(1, timer_semantics);
    on(2, timer_semantics);
    // Plain thread: `sleep` blocks it.
    timer_semantics();
    // In virtual time (a synctest bubble): the same semantics, no real time spent.
    goro_runtime::synctest::test(timer_semantics);
}

/// A ticker in virtual time ticks at exact multiples of its period, and the values it
/// sends are those instants.
#[test]
fn a_ticker_in_virtual_time_ticks_exactly_on_its_period() {
    goro_runtime::synctest::test(|| {
        let start = goro_runtime::now();
        let period = Duration::from_secs(60);
        let ticker = Ticker::new(period);
        for k in 1..=5u32 {
            assert_eq!(ticker.receiver().recv().unwrap(), start + period * k);
            assert_eq!(goro_runtime::now(), start + period * k);
        }
        ticker.reset(Duration::from_secs(1));
        let at = goro_runtime::now();
        assert_eq!(
            ticker.receiver().recv().unwrap(),
            at + Duration::from_secs(1)
        );
        ticker.stop();
        let r = ticker.receiver().recv_timeout(Duration::from_secs(3600));
        assert_eq!(r, Err(RecvTimeoutError::Timeout), "no tick after stop");
        assert_eq!(goro_runtime::now(), at + Duration::from_secs(3601));
    });
}

#[test]
fn two_expired_timers_in_one_select_are_chosen_at_random() {
    on(1, || {
        let mut counts = [0u32; 2];
        for _ in 0..200 {
            let (a, b) = (
                after(Duration::from_micros(1)),
                after(Duration::from_micros(2)),
            );
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(50) {} // both expire, neither fired
            select! {
                recv(a) -> _ => counts[0] += 1,
                recv(b) -> _ => counts[1] += 1,
            }
        }
        assert!(counts.iter().all(|&c| c > 20), "{counts:?}");
    });
}

#[test]
fn ticker_ticks_stops_and_resets() {
    for workers in [1, 2] {
        on(workers, || {
            let ticker = Ticker::new(Duration::from_millis(2));
            for _ in 0..3 {
                ticker.receiver().recv().unwrap();
            }
            ticker.stop();
            let r = ticker.receiver().recv_timeout(Duration::from_millis(30));
            assert_eq!(r, Err(RecvTimeoutError::Timeout), "no tick after stop");
            ticker.reset(Duration::from_millis(1));
            assert!(ticker
                .receiver()
                .recv_timeout(Duration::from_secs(5))
                .is_ok());
        });
    }
}

/// Parks until `cond` holds, failing after 10 s.
fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out");
        goro_runtime::sleep(Duration::from_millis(1));
    }
}

#[test]
fn after_func_runs_in_a_green_thread_unless_stopped() {
    for workers in [1, 2] {
        on(workers, || {
            let runs = Arc::new(AtomicUsize::new(0));
            let r = runs.clone();
            let t = after_func(Duration::from_millis(2), move || {
                assert!(goro_runtime::park::in_green_thread());
                r.fetch_add(1, SeqCst);
            });
            let stopped = after_func(Duration::from_millis(2), || panic!("stopped"));
            assert!(stopped.stop());
            wait_for(|| runs.load(SeqCst) == 1);
            assert!(!t.stop(), "it already ran");
            assert!(
                !t.reset(Duration::ZERO),
                "a fired after_func's FnOnce is spent: the reset arms nothing"
            );
            goro_runtime::sleep(Duration::from_millis(10));
            assert_eq!(
                runs.load(SeqCst),
                1,
                "it ran once; the stopped one never ran"
            );
            // Stopped before it fired, then reset: it runs once, later.
            let r = runs.clone();
            let later = after_func(Duration::from_secs(3600), move || {
                r.fetch_add(1, SeqCst);
            });
            assert!(later.stop());
            assert!(!later.reset(Duration::from_millis(1)), "it was stopped");
            wait_for(|| runs.load(SeqCst) == 2);
        });
    }
}

#[test]
fn dropping_timers_and_after_receivers_cancels_them_but_not_after_func() {
    on(2, || {
        let fired = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let f = fired.clone();
            drop(after_func(Duration::from_millis(5), move || {
                f.fetch_add(1, SeqCst);
            }));
            let t = Timer::new(Duration::from_millis(5));
            let rx = t.receiver().clone();
            drop(t);
            drop(after(Duration::from_millis(5)));
            assert!(
                rx.recv_timeout(Duration::from_millis(10)).is_err(),
                "cancelled"
            );
        }
        wait_for(|| fired.load(SeqCst) == 100); // a dropped after_func handle still runs
    });
}

/// Go 1.23's TestStopResult/TestResetResult shape: a timer that fired but whose value was
/// never received is still "running" — `stop` and `reset` remove the value and return
/// true, so `if !t.stop() { <-t.C }` never waits for a value that is gone.
#[test]
fn stop_and_reset_report_a_fired_value_nobody_received() {
    goro_runtime::run(|| {
        let hs: Vec<_> = (0..200)
            .map(|i| {
                goro_runtime::go(move || {
                    let t = Timer::new(Duration::from_millis(1));
                    goro_runtime::sleep(Duration::from_millis(5)); // fired, not received
                    let removed = if i % 2 == 0 {
                        t.stop()
                    } else {
                        t.reset(Duration::from_secs(3600))
                    };
                    assert!(removed, "the unreceived value counts as running");
                    if !removed {
                        t.receiver().recv().unwrap(); // Go's idiom: must not block
                    }
                    assert!(t.receiver().try_recv().is_err(), "no stale value");
                    assert!(t.stop() == (i % 2 == 1), "stopped once / reset re-armed");
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        // Received: no longer running.
        let t = Timer::new(Duration::from_millis(1));
        t.receiver().recv().unwrap();
        assert!(!t.stop());
        assert!(!t.reset(Duration::from_millis(1)));
    });
}

/// `after_func` takes an `FnOnce` (Go's `AfterFunc(d, func() { conn.Close() })` moves
/// what it closes).
#[test]
fn after_func_runs_a_closure_that_consumes_what_it_captured() {
    goro_runtime::run(|| {
        let (tx, rx) = goro_chan::bounded::<String>(1);
        let owned = String::from("closed");
        let _t = goro_chan::time::after_func(Duration::from_millis(1), move || {
            tx.send(owned).unwrap(); // consumes both captures
        });
        assert_eq!(rx.recv().unwrap(), "closed");
    });
}

/// crossbeam-channel's `after::fairness`: two `after` channels of the same duration in
/// one select, created by the select itself, each win at least a quarter of the time.
#[test]
fn two_afters_of_the_same_duration_in_a_select_win_equally() {
    goro_runtime::run(|| {
        const COUNT: usize = 400;
        for ms in [0, 1] {
            let mut hits = [0usize; 2];
            for _ in 0..COUNT {
                select! {
                    recv(after(Duration::from_millis(ms))) -> _ => hits[0] += 1,
                    recv(after(Duration::from_millis(ms))) -> _ => hits[1] += 1,
                }
            }
            assert!(
                hits.iter().all(|&h| h >= COUNT / 4),
                "after({ms} ms): {hits:?}"
            );
        }
    });
}
