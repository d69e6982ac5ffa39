//! goro::sync under green threads on several workers, mixed with OS threads.

mod common;
use common::rt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use goro_runtime::sync::{Mutex, Once, RwLock, Semaphore, WaitGroup};
use goro_runtime::{go, sleep, yield_now};

#[test]
fn mutex_counter_under_1000_green_threads() {
    let total = rt(4).block_on(|| {
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let m = m.clone();
                go(move || {
                    for _ in 0..100 {
                        let mut g = m.lock();
                        let v = *g;
                        if v % 7 == 0 {
                            yield_now(); // hold the lock across a switch: others must park
                        }
                        *g = v + 1;
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let v = *m.lock();
        v
    });
    assert_eq!(total, 100_000);
}

#[test]
fn mutex_guard_survives_migration_and_sleep() {
    rt(2).block_on(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let m = m.clone();
                go(move || {
                    let mut g = m.lock();
                    g.push(i);
                    sleep(Duration::from_micros(200)); // parked while holding it
                    g.push(i);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let v = m.lock();
        assert_eq!(v.len(), 40);
        for pair in v.chunks(2) {
            assert_eq!(pair[0], pair[1], "critical sections interleaved: {v:?}");
        }
    });
}

#[test]
fn mutex_shared_by_green_and_os_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let rt = rt(2);
    let os: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    let m2 = m.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..40)
            .map(|_| {
                let m = m2.clone();
                go(move || {
                    for _ in 0..1000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    os.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*m.lock(), 80_000);
}

#[test]
fn panic_while_holding_mutex_unlocks_it() {
    rt(1).block_on(|| {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let r = go(move || {
            let mut g = m2.lock();
            *g = 2;
            panic!("holding the lock");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*m.try_lock().expect("unlocked by the unwind"), 2);
    });
}

#[test]
fn mutex_waiter_unwound_at_shutdown_gives_the_lock_back() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock(); // the OS thread holds it while the runtime's green threads queue
    {
        let rt = rt(2);
        for _ in 0..5 {
            let m = m.clone();
            rt.spawn(move || *m.lock() += 1);
        }
        std::thread::sleep(Duration::from_millis(50)); // let them park on the lock
    } // dropped: the five parked lockers are unwound and leave the queue
    drop(held);
    assert_eq!(
        *m.try_lock().expect("no permit stranded with a dead waiter"),
        0
    );
}

#[test]
fn rwlock_writer_is_not_starved_by_readers() {
    rt(2).block_on(|| {
        let l = Arc::new(RwLock::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (l, stop) = (l.clone(), stop.clone());
                go(move || {
                    let mut n = 0u64;
                    while !stop.load(SeqCst) {
                        let g = l.read();
                        n += *g;
                        yield_now(); // overlap readers so the lock is never free
                        drop(g);
                    }
                    n
                })
            })
            .collect();
        for _ in 0..50 {
            *l.write() += 1; // each must get through while readers keep coming
        }
        stop.store(true, SeqCst);
        readers.into_iter().for_each(|h| {
            h.join().unwrap();
        });
        assert_eq!(*l.read(), 50);
    });
}

#[test]
fn rwlock_readers_share_and_see_consistent_pairs() {
    rt(4).block_on(|| {
        let l = Arc::new(RwLock::new((0u64, 0u64)));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                go(move || {
                    for _ in 0..500 {
                        let mut g = l.write();
                        g.0 += 1;
                        yield_now();
                        g.1 += 1;
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let l = l.clone();
                go(move || {
                    for _ in 0..500 {
                        let g = l.read();
                        assert_eq!(g.0, g.1, "a reader saw a half-done write");
                    }
                })
            })
            .collect();
        writers
            .into_iter()
            .chain(readers)
            .for_each(|h| h.join().unwrap());
        assert_eq!(*l.read(), (2000, 2000));
    });
}

#[test]
fn once_under_contention_runs_once_and_everyone_waits_for_it() {
    let once = Arc::new(Once::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    rt(4).block_on({
        let (once, calls, finished) = (once.clone(), calls.clone(), finished.clone());
        move || {
            let hs: Vec<_> = (0..1000)
                .map(|_| {
                    let (once, calls, finished) = (once.clone(), calls.clone(), finished.clone());
                    go(move || {
                        once.call_once(|| {
                            calls.fetch_add(1, SeqCst);
                            sleep(Duration::from_millis(5)); // others park meanwhile
                            finished.store(true, SeqCst);
                        });
                        assert!(finished.load(SeqCst), "returned before the call finished");
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        }
    });
    assert_eq!(calls.load(SeqCst), 1);
    assert!(once.is_completed());
}

#[test]
fn waitgroup_fan_in_and_reuse() {
    rt(3).block_on(|| {
        let wg = WaitGroup::new();
        let n = Arc::new(AtomicUsize::new(0));
        for round in 1..=5 {
            for _ in 0..200 {
                wg.add(1);
                let (wg, n) = (wg.clone(), n.clone());
                go(move || {
                    yield_now();
                    n.fetch_add(1, SeqCst);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(n.load(SeqCst), round * 200);
        }
        // Several waiters, one of them an OS thread.
        wg.add(1);
        let os = {
            let wg = wg.clone();
            std::thread::spawn(move || wg.wait())
        };
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let wg = wg.clone();
                go(move || wg.wait())
            })
            .collect();
        sleep(Duration::from_millis(5));
        wg.done();
        waiters.into_iter().for_each(|h| h.join().unwrap());
        os.join().unwrap();
    });
}

#[test]
fn waitgroup_negative_counter_panics_in_green_thread() {
    rt(1).block_on(|| {
        let err = go(|| WaitGroup::new().done()).join().unwrap_err();
        let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
        assert_eq!(msg, "sync: negative WaitGroup counter");
    });
}

#[test]
fn semaphore_limits_concurrency_counted() {
    rt(4).block_on(|| {
        let sem = Arc::new(Semaphore::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..300)
            .map(|_| {
                let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
                go(move || {
                    let _p = sem.acquire();
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    assert!(now <= 3, "{now} holders of a 3-permit semaphore");
                    yield_now();
                    running.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert!(peak.load(SeqCst) >= 2, "never contended");
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_try_acquire_that_fails_takes_and_gives_nothing() {
    // A failed try_acquire once built a permit and dropped it, adding a permit each time.
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().expect("one free permit");
    for _ in 0..3 {
        assert!(sem.try_acquire().is_none(), "the only permit is held");
    }
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn mutex_hand_off_is_fifo_under_contention() {
    // One worker: the lockers queue in the order they arrive and get the lock in that order.
    rt(1).block_on(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let g = m.lock();
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let (m, arrivals) = (m.clone(), arrivals.clone());
                go(move || {
                    arrivals.lock().unwrap().push(i);
                    m.lock().push(i)
                })
            })
            .collect();
        sleep(Duration::from_millis(5)); // let all ten park
        drop(g);
        hs.into_iter().for_each(|h| h.join().unwrap());
        let arrivals = arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 10);
        assert_eq!(*m.lock(), arrivals, "lock granted out of arrival order");
    });
}

mod condvar_and_once_lock {
    use super::*;
    use goro_runtime::sync::{Condvar, LazyLock, OnceLock};
    use std::collections::VecDeque;
    use std::time::Instant;

    /// A queue of jobs with 4 consumers waiting on a Condvar: every job is taken once.
    fn condvar_queue(workers: usize) {
        rt(workers).block_on(move || {
            let q = Arc::new((Mutex::new((VecDeque::new(), false)), Condvar::new()));
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    go(move || {
                        let (mut sum, mut n) = (0u64, 0u64);
                        loop {
                            let (lock, cv) = &*q;
                            let mut g = cv
                                .wait_while(lock.lock(), |(jobs, done)| jobs.is_empty() && !*done);
                            match g.0.pop_front() {
                                Some(j) => {
                                    drop(g);
                                    sum += j;
                                    n += 1;
                                }
                                None => return (sum, n),
                            }
                        }
                    })
                })
                .collect();
            for j in 1..=2000u64 {
                q.0.lock().0.push_back(j);
                q.1.notify_one();
                if j % 100 == 0 {
                    yield_now();
                }
            }
            q.0.lock().1 = true;
            q.1.notify_all();
            let (sum, n) = consumers
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            assert_eq!((sum, n), (2000 * 2001 / 2, 2000), "{workers} workers");
        });
    }

    #[test]
    fn condvar_queue_takes_every_job_once_on_1_and_2_workers() {
        condvar_queue(1);
        condvar_queue(2);
    }

    #[test]
    fn condvar_wait_timeout_and_notify_from_a_plain_thread() {
        rt(1).block_on(|| {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let (lock, cv) = &*pair;
            let start = Instant::now();
            let (g, r) = cv.wait_timeout(lock.lock(), Duration::from_millis(20));
            assert!(r.timed_out() && !*g && start.elapsed() >= Duration::from_millis(20));
            drop(g);
            let p = pair.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                *p.0.lock() = true;
                p.1.notify_all();
            });
            let (g, r) =
                cv.wait_timeout_while(lock.lock(), Duration::from_secs(30), |ready| !*ready);
            assert!(*g && !r.timed_out());
            drop(g);
            t.join().unwrap();
        });
        // A plain thread waits, a green thread notifies.
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p = pair.clone();
        let rt = rt(1);
        rt.spawn(move || {
            sleep(Duration::from_millis(10));
            *p.0.lock() = 7;
            p.1.notify_one();
        });
        let g = pair.1.wait_while(pair.0.lock(), |v| *v == 0);
        assert_eq!(*g, 7);
    }

    #[test]
    fn once_lock_whose_init_parks_does_not_hang_one_worker() {
        static CELL: OnceLock<u64> = OnceLock::new();
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        rt(1).block_on(|| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    go(|| {
                        *CELL.get_or_init(|| {
                            RUNS.fetch_add(1, SeqCst);
                            sleep(Duration::from_millis(20)); // parks the initialiser
                            42
                        })
                    })
                })
                .collect();
            assert!(hs.into_iter().all(|h| h.join().unwrap() == 42));
        });
        assert_eq!(RUNS.load(SeqCst), 1);
        assert_eq!(CELL.set(1), Err(1));
    }

    #[test]
    fn once_lock_init_that_panics_leaves_it_empty_for_the_next_caller() {
        let cell = Arc::new(OnceLock::new());
        rt(2).block_on(move || {
            let c = cell.clone();
            let r = go(move || *c.get_or_init(|| panic!("init failed"))).join();
            assert!(r.is_err());
            assert_eq!(cell.get(), None);
            assert_eq!(*cell.get_or_init(|| 5), 5);
            // From plain threads too.
            let c = cell.clone();
            assert_eq!(
                std::thread::spawn(move || *c.get().unwrap())
                    .join()
                    .unwrap(),
                5
            );
        });
    }

    #[test]
    fn lazy_lock_computes_once_and_poisons_after_a_panic() {
        static LAZY: LazyLock<String> = LazyLock::new(|| {
            sleep(Duration::from_millis(5));
            "computed".to_string()
        });
        rt(2).block_on(|| {
            let hs: Vec<_> = (0..8).map(|_| go(|| LAZY.len())).collect();
            assert!(hs.into_iter().all(|h| h.join().unwrap() == 8));
        });
        let bad: LazyLock<u32> = LazyLock::new(|| panic!("no"));
        let bad = Arc::new(bad);
        let b = bad.clone();
        assert!(std::thread::spawn(move || **b).join().is_err());
        let b = bad.clone();
        let second = std::thread::spawn(move || **b).join().unwrap_err();
        let msg = second
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| second.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("poisoned"), "{msg}");
    }
}

/// x/sync/semaphore's TestWeighted shape: many green threads acquire random weights up to
/// the size; the permits held never exceed it and every one comes back.
#[test]
fn weighted_semaphore_never_exceeds_its_size() {
    rt(2).block_on(|| {
        const SIZE: usize = 8;
        let sem = Arc::new(Semaphore::new(SIZE));
        let held = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..64usize)
            .map(|i| {
                let (sem, held) = (sem.clone(), held.clone());
                go(move || {
                    for j in 0..50usize {
                        let n = 1 + (i * 7 + j * 3) % SIZE;
                        let permit = sem.acquire_many(n);
                        assert_eq!(permit.num_permits(), n);
                        let now = held.fetch_add(n, SeqCst) + n;
                        assert!(now <= SIZE, "{now} permits held of {SIZE}");
                        yield_now();
                        held.fetch_sub(n, SeqCst);
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(sem.available_permits(), SIZE);
    });
}

/// x/sync/semaphore's TestLargeAcquireDoesntStarve and TestAllocCancelDoesntStarve
/// shapes: a big waiter at the head is served before small requests that arrive after it
/// (they queue behind it, `try_acquire` refuses to overtake it), and it is not starved by
/// a stream of small ones.
#[test]
fn a_big_waiter_at_the_head_is_served_first_and_not_starved() {
    rt(2).block_on(|| {
        let sem = Arc::new(Semaphore::new(2));
        let small = sem.acquire(); // one of two held: the big request must wait
        let big_done = Arc::new(AtomicBool::new(false));
        let big = {
            let (sem, big_done) = (sem.clone(), big_done.clone());
            go(move || {
                let p = sem.acquire_many(2);
                big_done.store(true, SeqCst);
                drop(p);
            })
        };
        sleep(Duration::from_millis(20)); // the big waiter is queued
        assert!(
            sem.try_acquire().is_none(),
            "a free permit is not taken past the queued big waiter"
        );
        // A stream of small acquirers arrives behind it; none may get in first.
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let smalls: Vec<_> = (0..8)
            .map(|i| {
                let (sem, order, big_done) = (sem.clone(), order.clone(), big_done.clone());
                go(move || {
                    let _p = sem.acquire();
                    order.lock().unwrap().push((i, big_done.load(SeqCst)));
                })
            })
            .collect();
        sleep(Duration::from_millis(20));
        drop(small); // now two are free: the big one goes first
        big.join().unwrap();
        smalls.into_iter().for_each(|h| h.join().unwrap());
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 8);
        assert!(
            order.iter().all(|&(_, after_big)| after_big),
            "every small acquirer ran after the big one: {order:?}"
        );
        assert_eq!(sem.available_permits(), 2);
    });
}

/// Owned permits of several at once move into green threads; zero permits is a no-op.
#[test]
fn owned_weighted_permits_move_into_green_threads() {
    rt(2).block_on(|| {
        let sem = Arc::new(Semaphore::new(5));
        assert_eq!(sem.acquire_many(0).num_permits(), 0);
        let p = sem.acquire_many_owned(3);
        assert!(sem.try_acquire_many_owned(3).is_none());
        go(move || drop(p)).join().unwrap();
        let all = sem.try_acquire_many_owned(5).expect("all five back");
        assert_eq!(all.num_permits(), 5);
    });
}
