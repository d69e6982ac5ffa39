//! goro::context and goro::errgroup: cancellation trees, deadlines, limits, first error.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use goro_chan::context::{Context, ContextError};
use goro_chan::errgroup::Group;
use goro_chan::select;
use goro_runtime::{go, sleep, yield_now};

mod common;
use common::rt;

#[test]
fn cancelling_a_parent_wakes_every_waiting_descendant() {
    rt(2).block_on(|| {
        let (root, cancel) = Context::background().with_cancel();
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let (ctx, _h) = if i % 2 == 0 {
                    root.with_cancel()
                } else {
                    root.with_timeout(Duration::from_secs(3600))
                };
                let (grandchild, _h2) = ctx.with_cancel();
                go(move || {
                    assert!(
                        grandchild.done().recv().is_err(),
                        "done is closed, not sent"
                    );
                    grandchild.err()
                })
            })
            .collect();
        sleep(Duration::from_millis(2));
        cancel.cancel();
        for h in hs {
            assert_eq!(h.join().unwrap(), Some(ContextError::Canceled));
        }
    });
}

/// In virtual time (a synctest bubble): the deadlines are an hour and ten minutes, the
/// times exact, the real time spent none.
#[test]
fn timeouts_fire_in_deadline_order_with_the_right_error() {
    goro_runtime::synctest::test(|| {
        let (min, hour) = (Duration::from_secs(60), Duration::from_secs(3600));
        let start = goro_runtime::now();
        let (parent, _p) = Context::background().with_timeout(hour);
        let (short, _s) = parent.with_timeout(10 * min);
        let (long, _l) = parent.with_timeout(10 * hour);
        assert_eq!(long.deadline(), parent.deadline(), "capped by the parent");
        let _ = short.done().recv();
        assert_eq!(goro_runtime::now() - start, 10 * min);
        assert_eq!(parent.err(), None);
        assert_eq!(short.err(), Some(ContextError::DeadlineExceeded));
        let _ = long.done().recv();
        assert_eq!(goro_runtime::now() - start, hour);
        assert_eq!(long.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(parent.err(), Some(ContextError::DeadlineExceeded));
    });
}

#[test]
fn done_in_select_stops_a_runaway_green_thread() {
    rt(2).block_on(|| {
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_millis(20));
        let worker = go(move || {
            let mut iterations = 0u64;
            loop {
                select! {
                    recv(ctx.done()) -> _ => break,
                    default => {
                        iterations += 1;
                        yield_now();
                    }
                }
            }
            (iterations, ctx.err())
        });
        let (n, err) = worker.join().unwrap();
        assert!(n > 0);
        assert_eq!(err, Some(ContextError::DeadlineExceeded));
        cancel.cancel(); // after expiry: does nothing
    });
}

#[test]
fn os_thread_waits_on_done() {
    let (ctx, cancel) = Context::background().with_cancel();
    let t = std::thread::spawn(move || {
        let _ = ctx.done().recv();
        ctx.err()
    });
    std::thread::sleep(Duration::from_millis(5));
    cancel.cancel();
    assert_eq!(t.join().unwrap(), Some(ContextError::Canceled));
}

#[test]
fn errgroup_limit_is_never_exceeded() {
    rt(2).block_on(|| {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let mut g = Group::<String>::new();
        g.set_limit(3);
        for _ in 0..200 {
            let (running, peak, ran) = (running.clone(), peak.clone(), ran.clone());
            g.go(move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                if now > 3 {
                    return Err(format!("{now} running"));
                }
                sleep(Duration::from_micros(50));
                running.fetch_sub(1, SeqCst);
                ran.fetch_add(1, SeqCst);
                Ok(())
            });
        }
        assert_eq!(g.wait(), Ok(()));
        assert_eq!(ran.load(SeqCst), 200);
        assert_eq!(
            peak.load(SeqCst),
            3,
            "the limit was reached but never exceeded"
        );
    });
}

#[test]
fn errgroup_keeps_the_first_error_and_cancels_its_context() {
    rt(2).block_on(|| {
        let (g, ctx) = Group::<String>::with_context(&Context::background());
        let finished = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let (ctx, finished) = (ctx.clone(), finished.clone());
            g.go(move || {
                if i == 3 {
                    return Err("task 3 failed".into());
                }
                // The others wait for cancellation, as Go code would.
                let _ = ctx.done().recv();
                finished.fetch_add(1, SeqCst);
                Err(format!("task {i}: {}", ctx.err().unwrap()))
            });
        }
        assert_eq!(g.wait(), Err("task 3 failed".to_string()));
        assert_eq!(
            finished.load(SeqCst),
            9,
            "wait returned before every task ended"
        );
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
}

#[test]
fn errgroup_wait_resumes_a_task_panic_after_all_finish() {
    rt(2).block_on(|| {
        let finished = Arc::new(AtomicUsize::new(0));
        let g = Group::<()>::new();
        for i in 0..5 {
            let finished = finished.clone();
            g.go(move || {
                if i == 2 {
                    panic!("task 2 exploded");
                }
                sleep(Duration::from_millis(2));
                finished.fetch_add(1, SeqCst);
                Ok(())
            });
        }
        let r = goro_runtime::catch_unwind(std::panic::AssertUnwindSafe(|| g.wait()));
        let p = r.expect_err("wait must resume the panic");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"task 2 exploded"));
        assert_eq!(finished.load(SeqCst), 4);
    });
}

#[test]
fn errgroup_try_go_respects_the_limit() {
    rt(2).block_on(|| {
        let (tx, rx) = goro_chan::bounded::<()>(0);
        let mut g = Group::<()>::new();
        g.set_limit(1);
        assert!(g.try_go(move || {
            let _ = rx.recv();
            Ok(())
        }));
        assert!(!g.try_go(|| Ok(())), "slot taken");
        drop(tx);
        assert_eq!(g.wait(), Ok(()));
    });
}

mod go_1_21 {
    use goro_chan::context::{after_func, Context, ContextError};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Debug, PartialEq)]
    struct User(&'static str);
    #[derive(Debug, PartialEq)]
    struct TraceId(u64);

    #[test]
    fn values_are_found_through_parents_and_survive_without_cancel() {
        let root = Context::background().with_value(User("ann"));
        let (mid, cancel) = root.with_timeout(Duration::from_secs(60));
        let leaf = mid.with_value(TraceId(9)).with_value(User("bob"));
        assert_eq!(leaf.value::<User>(), Some(&User("bob")), "nearest wins");
        assert_eq!(leaf.value::<TraceId>(), Some(&TraceId(9)));
        assert_eq!(mid.value::<TraceId>(), None, "values flow down, not up");
        let detached = leaf.without_cancel();
        cancel.cancel();
        assert_eq!(leaf.err(), Some(ContextError::Canceled));
        assert_eq!((detached.err(), detached.deadline()), (None, None));
        assert_eq!(detached.value::<TraceId>(), Some(&TraceId(9)));
    }

    #[test]
    fn the_cause_reaches_every_descendant_and_defaults_to_the_error() {
        let (ctx, cancel) = Context::background().with_cancel_cause();
        let (child, _c) = ctx.with_cancel();
        assert!(child.cause().is_none());
        cancel.cancel_with("disk full");
        cancel.cancel_with("ignored: only the first counts");
        assert_eq!(child.cause().unwrap().to_string(), "disk full");
        assert_eq!(child.err(), Some(ContextError::Canceled));
        let (late, _c) = ctx.with_cancel();
        assert_eq!(late.cause().unwrap().to_string(), "disk full");
        let (t, _c) = Context::background().with_timeout(Duration::ZERO);
        assert_eq!(t.cause().unwrap().to_string(), "context deadline exceeded");
    }

    fn after_func_runs_once_unless_stopped(workers: usize) {
        let rt = goro_runtime::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        rt.block_on(|| {
            let runs = Arc::new(AtomicUsize::new(0));
            let (ctx, cancel) = Context::background().with_cancel();
            let r = runs.clone();
            drop(after_func(&ctx, move || {
                r.fetch_add(1, SeqCst);
            })); // dropping the handle does not stop it
            let stopped = after_func(&ctx, || panic!("stopped"));
            assert!(stopped.stop());
            assert!(!stopped.stop(), "stopped once");
            cancel.cancel();
            let r = runs.clone();
            let late = after_func(&ctx, move || {
                r.fetch_add(1, SeqCst);
            }); // already done: runs at once
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while runs.load(SeqCst) < 2 && std::time::Instant::now() < deadline {
                goro_runtime::sleep(Duration::from_millis(1));
            }
            assert_eq!(runs.load(SeqCst), 2);
            assert!(!late.stop(), "it already ran");
        });
    }

    #[test]
    fn after_func_on_1_and_2_workers() {
        after_func_runs_once_unless_stopped(1);
        after_func_runs_once_unless_stopped(2);
    }
}

/// Go's errgroup: `Wait` may be called again after more `Go` calls, and `SetLimit(-1)`
/// removes the limit.
#[test]
fn errgroup_waits_again_and_drops_its_limit() {
    rt(2).block_on(|| {
        let mut g = Group::<String>::new();
        g.set_limit(1);
        g.go(|| Err("first".to_string()));
        assert_eq!(g.wait(), Err("first".to_string()));
        g.remove_limit();
        let (tx, rx) = goro_chan::bounded::<()>(0);
        // Two tasks that meet: possible only without the limit of one.
        let tx2 = tx.clone();
        g.go(move || tx2.send(()).map_err(|e| e.to_string()));
        g.go(move || rx.recv().map_err(|e| e.to_string()));
        drop(tx);
        assert_eq!(g.wait(), Ok(()), "the second wait sees only the new tasks");
    });
}

/// x/sync/semaphore's TestAllocCancelDoesntStarve shape: a big request waiting at the head
/// is cancelled through its context; the small request queued behind it then gets in, and
/// the cancelled one holds nothing.
#[test]
fn a_cancelled_big_acquire_leaves_the_queue_and_lets_the_next_in() {
    rt(2).block_on(|| {
        let sem = Arc::new(goro_runtime::sync::Semaphore::new(10));
        let held = sem.acquire(); // 9 free: the request for 10 must wait
        let (ctx, cancel) = Context::background().with_cancel();
        let big = {
            let (sem, ctx) = (sem.clone(), ctx.clone());
            go(move || ctx.acquire(&sem, 10).map(|p| p.num_permits()))
        };
        sleep(Duration::from_millis(20));
        let small = {
            let sem = sem.clone();
            go(move || drop(sem.acquire())) // queued behind the big one
        };
        sleep(Duration::from_millis(20));
        assert!(
            !small.is_finished(),
            "the small request waits behind the big one"
        );
        cancel.cancel();
        assert_eq!(big.join().unwrap(), Err(ContextError::Canceled));
        small.join().unwrap();
        drop(held);
        assert_eq!(sem.available_permits(), 10, "nothing leaked");
    });
}

/// `Context::dial` (Go's `DialContext`): a done context fails at once with its error as
/// an io error (`Interrupted` for a cancellation, `TimedOut` for a deadline).
#[test]
fn dial_with_a_done_context_fails_with_its_error() {
    rt(2).block_on(|| {
        let ln = goro_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let (ctx, cancel) = Context::background().with_cancel();
        assert!(ctx.dial(addr).is_ok(), "a live context dials");
        cancel.cancel();
        let e = ctx.dial(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted);
        let (late, _c) = Context::background().with_timeout(Duration::ZERO);
        let e = late.dial(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    });
}
