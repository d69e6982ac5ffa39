//! The low-level park/unpark API, across green threads and OS threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use goro_runtime::park::{self, Unparker, WaitReason};
use goro_runtime::{go, Runtime};

mod common;

/// A one-slot handoff built the way goro-chan builds channels: register under a lock,
/// release the lock in the park's release step.
struct Slot {
    state: Mutex<(Option<u64>, Option<Unparker>)>,
}

impl Slot {
    fn put(&self, v: u64) {
        let mut s = self.state.lock().unwrap();
        s.0 = Some(v);
        let w = s.1.take();
        drop(s); // never unpark under the lock
        if let Some(w) = w {
            w.unpark();
        }
    }

    fn take(&self) -> u64 {
        loop {
            let mut s = self.state.lock().unwrap();
            if let Some(v) = s.0.take() {
                return v;
            }
            s.1 = Some(park::current());
            park::park(WaitReason::Other, move || drop(s));
        }
    }
}

#[test]
fn no_lost_wakeups_green_to_green() {
    let rt = common::rt(2);
    rt.block_on(|| {
        for _ in 0..2000 {
            let slot = Arc::new(Slot {
                state: Mutex::new((None, None)),
            });
            let s = slot.clone();
            let h = go(move || s.take());
            slot.put(9);
            assert_eq!(h.join().unwrap(), 9);
        }
    });
}

#[test]
fn green_and_os_threads_wake_each_other() {
    let rt = common::rt(2);
    for _ in 0..500 {
        let a = Arc::new(Slot {
            state: Mutex::new((None, None)),
        });
        let b = Arc::new(Slot {
            state: Mutex::new((None, None)),
        });
        let (a2, b2) = (a.clone(), b.clone());
        let h = rt.spawn(move || {
            let v = a2.take(); // parks the green thread
            b2.put(v + 1);
        });
        a.put(1);
        assert_eq!(b.take(), 2); // parks the OS thread
        h.join().unwrap();
    }
}

#[test]
fn unpark_before_park_leaves_a_token() {
    let rt = Runtime::new().unwrap();
    rt.block_on(|| {
        let me = park::current();
        assert!(me.is_green_thread());
        me.clone().unpark();
        park::park(WaitReason::Other, || {}); // returns at once
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        park::park(WaitReason::Other, move || {
            r.store(true, Ordering::SeqCst);
            me.unpark(); // a release step may unpark (here: ourselves)
        });
        assert!(ran.load(Ordering::SeqCst));
    });
    let me = park::current();
    assert!(!me.is_green_thread());
    assert!(me.will_wake(&park::current()));
    me.unpark();
    park::park(WaitReason::Other, || {});
}
