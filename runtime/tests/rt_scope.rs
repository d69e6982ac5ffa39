//! `scope`: scoped green threads borrow from the caller's frame, on 1 and 2 workers and
//! from a plain OS thread; panics propagate like std's; a shutdown that unwinds a scope's
//! owner finishes its green threads first.

mod common;
use common::rt;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use goro_runtime::scope;

fn double_in_place(data: &mut [u64]) {
    scope(|s| {
        for chunk in data.chunks_mut(7) {
            s.go(move || {
                for x in chunk.iter_mut() {
                    goro_runtime::yield_now();
                    *x *= 2;
                }
            });
        }
    });
}

#[test]
fn scoped_green_threads_borrow_the_callers_data_on_1_and_2_workers() {
    for workers in [1, 2] {
        let sum = rt(workers).block_on(|| {
            let mut data: Vec<u64> = (1..=100).collect();
            double_in_place(&mut data); // returns only when every green thread finished
            let counter = AtomicUsize::new(0);
            let n = scope(|s| {
                let hs: Vec<_> = (0..10)
                    .map(|_| s.go(|| counter.fetch_add(1, SeqCst)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap() + 1)
                    .filter(|&k| k > 0)
                    .count()
            });
            assert_eq!((n, counter.load(SeqCst)), (10, 10));
            data.iter().sum::<u64>()
        });
        assert_eq!(sum, 2 * 5050, "{workers} workers");
    }
}

#[test]
fn scope_works_from_a_plain_os_thread() {
    let mut data: Vec<u64> = (1..=100).collect();
    double_in_place(&mut data);
    assert_eq!(data.iter().sum::<u64>(), 2 * 5050);
}

#[test]
fn a_panic_propagates_like_std() {
    rt(2).block_on(|| {
        // Joined: the panic is the join's, the scope returns normally.
        let joined = scope(|s| s.go(|| panic!("joined")).join().is_err());
        assert!(joined);
        // Not joined: the scope panics after every green thread finished.
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scope(|s| {
                s.go(|| panic!("not joined"));
                s.go(|| {
                    goro_runtime::sleep(Duration::from_millis(20));
                    finished.fetch_add(1, SeqCst);
                });
            })
        }));
        let p = r.unwrap_err();
        assert_eq!(
            p.downcast_ref::<&str>(),
            Some(&"a scoped green thread panicked")
        );
        assert_eq!(finished.load(SeqCst), 1, "the other one finished first");
    });
}

#[test]
fn a_shutdown_unwinds_a_scopes_green_threads_before_its_owner() {
    // The scoped green threads hold guards of a Mutex in the owner's frame; they must be
    // unwound (unlocking it) while that frame still exists.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    for _ in 0..10 {
        let drops = Arc::new(AtomicUsize::new(0));
        let rt = rt(2);
        let (d, started) = (drops.clone(), Arc::new(AtomicUsize::new(0)));
        let st = started.clone();
        rt.spawn(move || {
            let lock = goro_runtime::sync::Mutex::new(0u32);
            let _owner = Counted(d.clone());
            scope(|s| {
                for _ in 0..3 {
                    let (lock, d, st) = (&lock, d.clone(), st.clone());
                    s.go(move || {
                        let _c = Counted(d);
                        st.fetch_add(1, SeqCst);
                        // One holds the guard, two wait in the Mutex's queue: all of it
                        // lives in the owner's frame.
                        let mut g = lock.lock();
                        *g += 1;
                        goro_runtime::sleep(Duration::from_secs(3600)); // parked at drop
                    });
                }
            });
        });
        std::thread::sleep(Duration::from_millis(30));
        drop(rt);
        assert_eq!(
            drops.load(SeqCst),
            4,
            "three scoped green threads and the owner"
        );
    }
}
