//! `goro_runtime::stack::{maybe_grow, remaining}`: deep recursion on demand, on pooled,
//! guarded segments, in green threads and on plain threads.

use std::time::Duration;

use goro_runtime::stack::{maybe_grow, remaining};

mod common;
use common::{child_command, is_child, rt};

/// One frame of a recursion that may go deep: about 100 bytes each.
fn depth(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    maybe_grow(32 * 1024, 1 << 20, || 1 + depth(n - 1))
}

#[test]
fn a_million_frames_deep_in_a_green_thread_on_the_default_stack() {
    let d = rt(2).block_on(|| depth(1_000_000));
    assert_eq!(d, 1_000_000);
}

#[test]
fn remaining_shrinks_as_the_stack_deepens_and_resets_on_a_segment() {
    rt(1).block_on(|| {
        let top = remaining().expect("a green thread knows its stack");
        assert!(top > 200 * 1024 && top <= 256 * 1024, "{top}");
        fn nested(n: u32) -> usize {
            let pad = std::hint::black_box([0u8; 1024]);
            if n == 0 {
                return remaining().unwrap() + pad[0] as usize;
            }
            nested(n - 1)
        }
        let deeper = nested(50);
        assert!(deeper < top - 50 * 1024, "{deeper} vs {top}");
        // On a fresh segment almost all of it is left.
        let on_segment = maybe_grow(usize::MAX, 2 << 20, || remaining().unwrap());
        assert!(on_segment > (2 << 20) - 64 * 1024, "{on_segment}");
        assert_eq!(
            remaining().map(|r| r / 4096),
            Some(top / 4096),
            "back on the stack"
        );
    });
}

#[test]
fn a_green_thread_parks_on_a_segment_and_resumes_there() {
    let r = rt(2).block_on(|| {
        let hs: Vec<_> = (0..20u64)
            .map(|i| {
                goro_runtime::go(move || {
                    maybe_grow(usize::MAX, 1 << 20, || {
                        for _ in 0..5 {
                            goro_runtime::sleep(Duration::from_millis(1));
                            goro_runtime::yield_now();
                        }
                        i + depth(10_000)
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(r, (0..20).sum::<u64>() + 20 * 10_000);
}

#[test]
fn a_panic_on_a_segment_reaches_the_caller() {
    let r = rt(1).block_on(|| {
        goro_runtime::catch_unwind(|| maybe_grow(usize::MAX, 1 << 20, || panic!("deep")))
    });
    assert!(r.is_err());
}

#[test]
fn it_works_on_a_plain_thread_too() {
    let d = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            assert!(remaining().is_some());
            depth(300_000)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(d, 300_000);
}

#[test]
fn a_segment_overflow_names_maybe_grow() {
    const NAME: &str = "a_segment_overflow_names_maybe_grow";
    if is_child(NAME) {
        #[inline(never)]
        #[allow(unconditional_recursion)]
        fn unbounded(n: u64) -> u64 {
            let pad = std::hint::black_box([n as u8; 512]);
            unbounded(n + 1) + pad[1] as u64
        }
        rt(1).block_on(|| maybe_grow(usize::MAX, 128 * 1024, || unbounded(0)));
        unreachable!();
    }
    let out = child_command(NAME).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("maybe_grow segment"), "{stderr}");
    assert!(stderr.contains("128 KiB"), "{stderr}");
}

#[test]
fn a_runtime_dropped_while_a_green_thread_parks_on_a_segment_unwinds_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let runtime = rt(1);
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let h = runtime.spawn(move || {
        maybe_grow(usize::MAX, 1 << 20, move || {
            let _flag = Flag(d);
            parked_tx.send(()).unwrap();
            goro_runtime::park::park(goro_runtime::park::WaitReason::Other, || {});
        })
    });
    parked_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(runtime);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the segment's frames were unwound"
    );
    assert!(h.join().is_err());
}
