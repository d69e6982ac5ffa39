//! Debugging aids: `dump`, deadlock detection, metrics, green-thread-locals, leak checks,
//! the long-running warning. Paths that end the process run in a child process (this test
//! binary re-executed with `GORO_CHILD` naming the test) whose stderr and status we check.

use std::cell::Cell;
use std::time::Duration;

use goro::chan;

mod common;
use common::{child_command, is_child};

/// Runs this test binary again as a child executing `name` only; returns (success, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = child_command(name);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr)
}

#[test]
fn dump_shows_each_state_with_its_object_and_spawn_site() {
    goro::run(|| {
        let (tx, rx) = chan::bounded::<u32>(3);
        let receiver = goro::go(move || {
            let mut got = 0;
            while let Ok(v) = rx.recv() {
                got += v;
            }
            got
        });
        let sleeper = goro::go(|| goro::sleep(Duration::from_secs(30)));
        let (_stx, srx) = chan::bounded::<()>(0);
        let selector = goro::go(move || {
            goro::select! {
                recv(srx) -> _ => {},
                recv(chan::never::<()>()) -> _ => {},
            }
        });
        goro::sleep(Duration::from_millis(50));
        // `dump` covers every runtime of the process (other tests run in parallel):
        // keep the section of ours, the one with the capacity-3 channel.
        let all = goro::dump();
        let d = all
            .split("goro runtime ")
            .find(|s| s.contains("(capacity 3)"))
            .unwrap_or_else(|| panic!("our runtime is missing:\n{all}"));
        assert!(d.contains("[running"), "the caller runs:\n{d}");
        assert!(d.contains("[chan receive"), "{d}");
        assert!(d.contains("(capacity 3)"), "{d}");
        assert!(d.contains("[sleep") && d.contains("wakes in"), "{d}");
        assert!(d.contains("[select") && d.contains("2 cases"), "{d}");
        assert!(d.contains("tests/debugging.rs"), "spawn sites:\n{d}");
        assert_eq!(d.matches("goroutine ").count(), 4, "{d}");
        tx.send(5).unwrap();
        drop(tx);
        assert_eq!(receiver.join().unwrap(), 5);
        drop((sleeper, selector));
    });
    assert!(
        !goro::dump().contains("(capacity 3)"),
        "the runtime is gone"
    );
}

#[test]
fn timers_sockets_and_os_threads_are_possible_wakers() {
    goro::run(|| {
        // A green thread blocked forever does not make a sleeping main a deadlock.
        let (_keep, never) = chan::bounded::<()>(0);
        let _stuck = goro::go(move || never.recv());
        goro::sleep(Duration::from_millis(250));

        // An OS thread that sleeps (in goro) and then sends.
        let (tx, rx) = chan::bounded::<u32>(0);
        let t = std::thread::spawn(move || {
            goro::sleep(Duration::from_millis(250));
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 7);
        t.join().unwrap();

        // An OS thread blocked in a goro receive that a green thread will answer.
        let (qtx, qrx) = chan::bounded::<u32>(0);
        let (atx, arx) = chan::bounded::<u32>(0);
        let t = std::thread::spawn(move || {
            let q = qrx.recv().unwrap();
            atx.send(q * 2).unwrap();
        });
        goro::sleep(Duration::from_millis(250)); // the OS thread parks first
        qtx.send(21).unwrap();
        assert_eq!(arx.recv().unwrap(), 42);
        t.join().unwrap();

        // A socket read that completes after a while.
        let l = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(250));
            c.write_all(b"x").unwrap();
        });
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut s, &mut b).unwrap();
        writer.join().unwrap();

        // A blocking call in progress.
        let v = goro::blocking(|| {
            std::thread::sleep(Duration::from_millis(250));
            3
        });
        assert_eq!(v, 3);
    });
}

#[test]
fn a_receiver_whose_senders_are_all_dropped_is_woken_with_an_error() {
    goro::run(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let r = goro::go(move || rx.recv());
        goro::sleep(Duration::from_millis(20));
        drop(tx); // the last handle of the other side: not a deadlock, an error
        assert!(r.join().unwrap().is_err());
    });
}

#[test]
fn metrics_count_spawns_parks_and_steals() {
    let rt = common::rt(2);
    rt.block_on(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let consumer = goro::go(move || rx.iter().sum::<u32>());
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), 499_500);
        let m = goro::metrics().expect("inside a runtime");
        assert_eq!(m.processors, 2);
        assert!(m.num_goroutines >= 1);
        assert!(m.parks > 0, "{m:?}");
    });
    let m = rt.metrics();
    assert_eq!(m.spawned, 2);
    assert_eq!(m.num_goroutines, 0);
    assert!(m.resumes >= m.parks && m.parks >= 1000, "{m:?}");
    assert_eq!(m.global_queue_depth, 0);
    assert!(goro::metrics().is_none(), "outside a runtime");
    // Per processor: the totals are their sums, and each names its worker's OS thread.
    assert_eq!(m.per_processor.len(), 2);
    let sum = |f: fn(&goro::ProcessorMetrics) -> u64| m.per_processor.iter().map(f).sum::<u64>();
    assert_eq!(sum(|p| p.resumes), m.resumes);
    assert_eq!(sum(|p| p.parks), m.parks);
    assert_eq!(sum(|p| p.steals), m.steals);
    assert!(m.per_processor.iter().any(|p| p.thread_id > 0), "{m:?}");
}

/// A green thread inside `goro::blocking` shows which OS thread its call blocks.
#[test]
fn dump_names_the_os_thread_of_a_blocking_call() {
    common::rt(2).block_on(|| {
        let h = goro::Spawn::new()
            .name("sleeper-in-a-call")
            .go(|| goro::blocking(|| std::thread::sleep(Duration::from_millis(300))));
        goro::sleep(Duration::from_millis(100));
        let dump = goro::dump();
        // By name: the dump covers the other tests' runtimes too.
        let block = dump
            .split("\n\n")
            .find(|b| b.contains("\"sleeper-in-a-call\" [syscall (goro::blocking)"))
            .unwrap_or_else(|| panic!("{dump}"));
        let tid: i32 = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("on OS thread "))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{block}"));
        assert!(
            std::path::Path::new(&format!("/proc/self/task/{tid}")).exists(),
            "{tid} is a thread of this process"
        );
        h.join().unwrap();
    });
}

goro::local! {
    static REQUEST: Cell<u64> = Cell::new(0);
    static TRAIL: std::cell::RefCell<Vec<u64>> = std::cell::RefCell::new(Vec::new());
}

#[test]
fn locals_follow_the_green_thread_across_workers() {
    let rt = common::rt(2);
    let sum = rt.block_on(|| {
        let hs: Vec<_> = (1..=64u64)
            .map(|i| {
                goro::go(move || {
                    REQUEST.with(|r| r.set(i));
                    for _ in 0..50 {
                        goro::yield_now(); // resumes on either worker
                        assert_eq!(REQUEST.with(Cell::get), i);
                        TRAIL.with(|t| t.borrow_mut().push(i));
                    }
                    TRAIL.with(|t| t.borrow().len() as u64) * i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 50 * (1..=64u64).sum::<u64>());
    // A recycled green thread starts with fresh values.
    let fresh = rt.block_on(|| goro::go(|| REQUEST.with(Cell::get)).join().unwrap());
    assert_eq!(fresh, 0);
}

#[test]
fn local_values_are_dropped_when_the_green_thread_ends() {
    struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    goro::local! {
        static HELD: std::cell::RefCell<Option<Flag>> = std::cell::RefCell::new(None);
    }
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = dropped.clone();
    goro::run(move || {
        goro::go(move || HELD.with(|h| *h.borrow_mut() = Some(Flag(d))))
            .join()
            .unwrap();
    });
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn leak_check_passes_when_clean_and_reports_a_parked_leak() {
    goro::run(|| {
        let check = goro::LeakCheck::new();
        let hs: Vec<_> = (0..10).map(|i| goro::go(move || i)).collect();
        hs.into_iter().for_each(|h| drop(h.join()));
        check.verify(Duration::from_secs(5));

        let (tx, rx) = chan::bounded::<()>(0);
        let _leak = goro::go(move || rx.recv());
        let report = check.check(Duration::from_millis(100)).unwrap_err();
        assert!(report.contains("1 green thread(s) leaked"), "{report}");
        assert!(report.contains("[chan receive"), "{report}");
        drop(tx);
        check.verify(Duration::from_secs(5)); // closing the channel ends the leak
    });
}

#[test]
fn long_running_green_threads_are_reported_when_asked() {
    const NAME: &str = "long_running_green_threads_are_reported_when_asked";
    if is_child(NAME) {
        let rt = goro::Runtime::builder()
            .workers(1)
            .warn_long_running(Duration::from_millis(20))
            .build()
            .unwrap();
        rt.block_on(|| {
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_millis(300) {
                std::hint::spin_loop(); // never yields
            }
        });
        return;
    }
    let (ok, stderr) = child(NAME, &[]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("without yielding"), "{stderr}");
    assert!(stderr.contains("tests/debugging.rs"), "{stderr}");
}

#[test]
fn a_stuck_worker_does_not_strand_its_queue() {
    // One green thread spins without yielding on worker A; what it spawned sits in A's
    // runnext/queue. sysmon notices A's tick counter standing still and wakes worker B,
    // which steals the work.
    let rt = common::rt(2);
    rt.block_on(|| {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        let helper = goro::go(move || d.store(true, std::sync::atomic::Ordering::SeqCst));
        let t = std::time::Instant::now();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "queued work was stranded"
            );
            std::hint::spin_loop();
        }
        helper.join().unwrap();
    });
}

/// `dump` names the primitive a green thread waits on, in Go's words.
#[test]
fn dump_names_the_sync_primitive_each_green_thread_waits_on() {
    goro::run(|| {
        use std::sync::Arc;
        let m = Arc::new(goro::sync::Mutex::new(()));
        let rw = Arc::new(goro::sync::RwLock::new(()));
        let wg = goro::sync::WaitGroup::new();
        let sem = Arc::new(goro::sync::Semaphore::new(0));
        let held = m.lock();
        let written = rw.write();
        wg.add(1);
        let mut parked = Vec::new();
        {
            let m = m.clone();
            let named = goro::Spawn::new().name("mutex-waiter");
            parked.push(named.go(move || drop(m.lock())));
        }
        {
            let rw = rw.clone();
            parked.push(goro::go(move || drop(rw.read())));
        }
        {
            let wg = wg.clone();
            parked.push(goro::go(move || wg.wait()));
        }
        {
            let sem = sem.clone();
            parked.push(goro::go(move || drop(sem.acquire())));
        }
        goro::sleep(std::time::Duration::from_millis(50));
        let d = goro::dump();
        for what in [
            "[sync.Mutex.Lock",
            "[sync.RWMutex.RLock",
            "[sync.WaitGroup.Wait",
            "[semacquire",
        ] {
            assert!(d.contains(what), "{what} missing:\n{d}");
        }
        // Which lock: the waiter's block names the primitive's address (the mutex's
        // semaphore lives inside the mutex).
        let mutex_at = Arc::as_ptr(&m) as usize;
        let block = d
            .split("\n\n")
            .find(|b| b.contains("\"mutex-waiter\" [sync.Mutex.Lock"))
            .unwrap_or_else(|| panic!("{d}"));
        let on: usize = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("on 0x"))
            .and_then(|a| usize::from_str_radix(a.split(',').next()?, 16).ok())
            .unwrap_or_else(|| panic!("{block}"));
        let size = std::mem::size_of::<goro::sync::Mutex<()>>();
        assert!(
            (mutex_at..mutex_at + size).contains(&on),
            "{on:#x} in the mutex at {mutex_at:#x}"
        );
        drop((held, written));
        wg.done();
        sem.add_permits(1);
        parked.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// A green thread waiting on a goro lock is shown with the green thread that holds it:
/// a mutex's locker, a write-locked `RwLock`'s writer, a read-locked one's reader count.
#[test]
fn dump_names_who_holds_the_lock_a_green_thread_waits_on() {
    use std::sync::Arc;
    goro::run(|| {
        let m = Arc::new(goro::sync::Mutex::new(()));
        let rw = Arc::new(goro::sync::RwLock::new(()));
        let shared = Arc::new(goro::sync::RwLock::new(()));
        let (release, released) = chan::bounded::<()>(0);
        let holder = {
            let (m, rw, shared) = (m.clone(), rw.clone(), shared.clone());
            goro::Spawn::new().name("lock-holder").go(move || {
                let _m = m.lock();
                let _w = rw.write();
                let _r = shared.read();
                let _ = released.recv();
            })
        };
        goro::sleep(Duration::from_millis(20));
        let mut waiters = Vec::new();
        for (name, lock) in [("wants-mutex", 0), ("wants-read", 1), ("wants-write", 2)] {
            let (m, rw, shared) = (m.clone(), rw.clone(), shared.clone());
            waiters.push(goro::Spawn::new().name(name).go(move || match lock {
                0 => drop(m.lock()),
                1 => drop(rw.read()),
                _ => drop(shared.write()),
            }));
        }
        goro::sleep(Duration::from_millis(50));
        let d = goro::dump();
        let block = |name: &str| {
            d.split("\n\n")
                .find(|b| b.contains(&format!("{name:?} [")))
                .unwrap_or_else(|| panic!("{name}:\n{d}"))
                .to_string()
        };
        let by_holder = format!("held by goroutine {}", holder.id());
        assert!(block("wants-mutex").contains(&by_holder), "{d}");
        assert!(block("wants-read").contains(&by_holder), "{d}");
        assert!(block("wants-write").contains("held by 1 reader(s)"), "{d}");
        // A lock held by an OS thread is said to be.
        let os_held = Arc::new(goro::sync::Mutex::new(()));
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (unlock_tx, unlock_rx) = std::sync::mpsc::channel::<()>();
        let os = {
            let m = os_held.clone();
            std::thread::spawn(move || {
                let _g = m.lock();
                locked_tx.send(()).unwrap();
                let _ = unlock_rx.recv();
            })
        };
        locked_rx.recv().unwrap();
        let w = {
            let m = os_held.clone();
            goro::Spawn::new()
                .name("wants-os-mutex")
                .go(move || drop(m.lock()))
        };
        goro::sleep(Duration::from_millis(50));
        let d = goro::dump();
        let b = d
            .split("\n\n")
            .find(|b| b.contains("\"wants-os-mutex\" ["))
            .unwrap_or_else(|| panic!("{d}"));
        assert!(b.contains("held by an OS thread"), "{b}");
        drop(unlock_tx);
        os.join().unwrap();
        w.join().unwrap();
        drop(release);
        holder.join().unwrap();
        waiters.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// A green thread whose OS thread blocked in a `std` call, long enough for sysmon to hand
/// its processor off, is shown running on that thread, without a processor.
#[test]
fn dump_names_the_os_thread_of_a_handed_off_green_thread() {
    common::rt(1).block_on(|| {
        let h = goro::Spawn::new()
            .name("blocks-its-thread")
            .go(|| std::thread::sleep(Duration::from_millis(600)));
        goro::sleep(Duration::from_millis(300));
        let dump = goro::dump();
        let block = dump
            .split("\n\n")
            .find(|b| b.contains("\"blocks-its-thread\" [running"))
            .unwrap_or_else(|| panic!("{dump}"));
        if goro::metrics().unwrap().handoffs == 0 {
            return; // no membarrier here: sysmon cannot hand off (docs ch.2)
        }
        let line = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("on OS thread "))
            .unwrap_or_else(|| panic!("{block}"));
        assert!(
            line.ends_with("without a processor (handed off)"),
            "{block}"
        );
        let tid: i32 = line.split(',').next().unwrap().parse().unwrap();
        assert!(std::path::Path::new(&format!("/proc/self/task/{tid}")).exists());
        h.join().unwrap();
    });
}

/// Scheduling delay, run time and busy time: ten green threads that each compute for 1 ms
/// and yield, 32 times, on one processor, wait behind each other (about 9 ms) and run for
/// 1 ms each time. One transition in sixteen of each is timed.
#[test]
fn metrics_time_scheduling_delay_run_time_and_busy_time() {
    let rt = common::rt(1);
    rt.block_on(|| {
        let spin = || {
            for _ in 0..32 {
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_millis(1) {
                    std::hint::spin_loop();
                }
                goro::yield_now();
            }
        };
        let hs: Vec<_> = (0..10).map(|_| goro::go(spin)).collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    let m = rt.metrics();
    let (delay, run) = (&m.scheduling_latency, &m.run_time);
    assert!(delay.count() >= 10 && run.count() >= 10, "{m:#?}");
    assert!(
        delay.quantile(0.5).unwrap() >= Duration::from_millis(4),
        "{delay:#?}"
    );
    assert!(
        run.quantile(0.5).unwrap() >= Duration::from_micros(800),
        "{run:#?}"
    );
    assert!(m.busy >= Duration::from_millis(250), "{m:#?}");
    let p = &m.per_processor[0];
    assert_eq!(p.scheduling_latency, m.scheduling_latency);
    assert_eq!(p.busy, m.busy);
}
