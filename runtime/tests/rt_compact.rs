//! Compaction of long-parked stacks (`Builder::compact_parked_stacks`): the stack bytes a
//! parked green thread uses survive the round trip, whatever races it (wake-ups during
//! compaction, a dump, shutdown), and the pages really go back.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro_runtime::sync::{Condvar, Mutex, WaitGroup};
use goro_runtime::{go, scope, sleep, Runtime};

fn runtime(after_ms: u64) -> Runtime {
    let b = Runtime::builder().workers(2);
    // SAFETY: these tests lend no green thread's stack to other threads, except through
    // `goro::scope`, which goro sees.
    unsafe { b.compact_parked_stacks(Duration::from_millis(after_ms)) }
        .build()
        .unwrap()
}

/// A frame full of values derived from `seed`, live across `wait`; their sum afterwards.
#[inline(never)]
fn frame_across(seed: u64, wait: impl FnOnce()) -> u64 {
    let mut a = [0u64; 64];
    for (i, x) in a.iter_mut().enumerate() {
        *x = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(i as u32);
    }
    black_box(&mut a);
    wait();
    black_box(&a).iter().fold(0u64, |s, x| s.wrapping_add(*x))
}

fn expected(seed: u64) -> u64 {
    (0..64).fold(0u64, |s, i| {
        s.wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(i))
    })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_sleeping_green_thread_keeps_its_frame_and_gives_its_pages_back() {
    let n = 2000u64;
    let rt = runtime(300);
    let hs: Vec<_> = (0..n)
        .map(|i| rt.spawn(move || frame_across(i, || sleep(Duration::from_millis(1500)))))
        .collect();
    wait_until("parked", || rt.metrics().parks >= n);
    let before = rss();
    wait_until("stacks compacted", || {
        rt.metrics().compacted_stacks >= n as usize
    });
    let (after, m) = (rss(), rt.metrics());
    // Each stack gave back at least one page and kept a copy of its live bytes.
    let freed = before.saturating_sub(after) + m.compacted_stack_bytes;
    assert!(
        freed >= n as usize * 4096 / 2,
        "RSS {before} -> {after} B, copies {} B for {n} stacks",
        m.compacted_stack_bytes
    );
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), expected(i as u64));
    }
    assert_eq!(rt.metrics().compacted_stacks, 0, "restored on resume");
}

/// Wake-ups race the compaction: parks of a few milliseconds with a 1 ms threshold, so
/// sysmon holds stacks while wakers notify them. Every round trip must count.
#[test]
fn wake_ups_racing_compaction_are_never_lost() {
    let rt = runtime(1);
    let done = Arc::new(AtomicUsize::new(0));
    let rounds = 40;
    let n = 64;
    let d = done.clone();
    rt.block_on(move || {
        let state = Arc::new((Mutex::new(0u64), Condvar::new()));
        let wg = WaitGroup::new();
        for i in 0..n {
            let (state, d, wg) = (state.clone(), d.clone(), wg.clone());
            wg.add(1);
            go(move || {
                for r in 1..=rounds {
                    let got = frame_across(i * 1000 + r, || {
                        let (m, c) = &*state;
                        let mut g = m.lock();
                        while *g < r {
                            g = c.wait(g);
                        }
                    });
                    assert_eq!(got, expected(i * 1000 + r));
                    d.fetch_add(1, Ordering::Relaxed);
                }
                wg.done();
            });
        }
        for r in 1..=rounds {
            sleep(Duration::from_millis(1 + r % 4));
            *state.0.lock() = r;
            state.1.notify_all();
        }
        wg.wait();
    });
    assert_eq!(done.load(Ordering::Relaxed), (rounds * n) as usize);
}

#[test]
fn the_dump_shows_a_compacted_stack() {
    let rt = runtime(5);
    let h = rt.spawn(|| frame_across(7, || sleep(Duration::from_millis(800))));
    wait_until("compacted", || rt.metrics().compacted_stacks >= 1);
    let mut out = Vec::new();
    goro_runtime::dump_to(&mut out).unwrap();
    let dump = String::from_utf8_lossy(&out);
    assert!(dump.contains("frame_across"), "{dump}");
    assert_eq!(h.join().unwrap(), expected(7));
}

#[test]
fn shutdown_unwinds_compacted_green_threads() {
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = runtime(5);
    for i in 0..50 {
        let c = Count(dropped.clone());
        rt.spawn(move || {
            let _c = c;
            frame_across(i, || sleep(Duration::from_secs(3600)))
        });
    }
    wait_until("compacted", || rt.metrics().compacted_stacks >= 50);
    drop(rt);
    assert_eq!(dropped.load(Ordering::Relaxed), 50);
}

/// `goro::scope` lends the opening green thread's frame to its scoped green threads,
/// which read and write it while that green thread parks (in the scope's wait, or on a
/// lock inside it): goro never compacts such a stack. Without that rule this test read
/// zeros and lost the writes (found with compaction forced on for the whole test suite).
#[test]
fn a_scope_keeps_its_frame_in_place() {
    let rt = runtime(1);
    let sum = rt.block_on(|| {
        (0..20u64)
            .map(|round| {
                let data: Vec<u64> = (0..64).map(|i| i * round).collect();
                let counter = AtomicUsize::new(0);
                let total = std::sync::Mutex::new(0u64);
                let slice = &data[..];
                let gate = Mutex::new(());
                let held = gate.lock();
                scope(|s| {
                    for part in slice.chunks(16) {
                        let (counter, total, gate) = (&counter, &total, &gate);
                        s.go(move || {
                            sleep(Duration::from_millis(5));
                            drop(gate.lock());
                            *total.lock().unwrap() += part.iter().sum::<u64>();
                            counter.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    sleep(Duration::from_millis(5)); // parked inside the scope
                    drop(held);
                });
                assert_eq!(counter.load(Ordering::SeqCst), 4);
                let t = *total.lock().unwrap();
                assert_eq!(t, (0..64).sum::<u64>() * round);
                t
            })
            .sum::<u64>()
    });
    assert_eq!(sum, (0..64).sum::<u64>() * (0..20).sum::<u64>());
}
