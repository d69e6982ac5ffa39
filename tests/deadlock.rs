//! The deadlock verdict, in processes of its own: a test harness's threads are OS threads
//! goro does not know, and any such thread rules a verdict out (`runtime/src/sysmon.rs`,
//! invariant 3). So this file has no libtest harness (`harness = false`): its `main` runs
//! each case in a child process whose only threads are the main thread and goro's, and
//! prints libtest-like lines and an `N passed, N failed` summary.
//!
//! Two kinds of case: real deadlocks, which must still be reported, and correct programs
//! whose green thread waits for a plain `std::thread`, which must never be killed.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use goro::chan;

mod common;
use common::try_output_within;

/// A case runs in the child; `Ok(expect_failure_with)` tells the parent what to check.
struct Case {
    name: &'static str,
    run: fn(),
    /// `Some(texts)`: the child must fail and its stderr contain each text.
    fails_with: Option<&'static [&'static str]>,
    /// A child that succeeds must print each of these to stderr.
    prints: &'static [&'static str],
}

fn deadlock_under_run_is_reported_with_the_dump() {
    goro::run(|| {
        let (tx, rx) = chan::bounded::<i32>(0);
        let _helper = goro::go(move || {
            let _ = rx.recv(); // waits for main, which waits for it
            tx.send(1)
        });
        let (_tx2, rx2) = chan::bounded::<i32>(0);
        let _ = rx2.recv();
    });
    unreachable!("run returned from a deadlock");
}

fn builder_run_reports_a_deadlock_like_run() {
    goro::Runtime::builder()
        .workers(1)
        .stack_size(1 << 20)
        .run(|| {
            let (_tx, rx) = chan::bounded::<u8>(0);
            let _ = rx.recv();
        });
    unreachable!("Builder::run returned from a deadlock");
}

fn block_on_with_detection_panics_and_the_runtime_recovers() {
    let rt = goro::Runtime::builder()
        .workers(2)
        .detect_deadlocks(true)
        .build()
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(|| {
            let (_tx, rx) = chan::bounded::<()>(0);
            let m = goro::sync::Mutex::new(());
            let _g = m.lock();
            let _ = rx.recv();
        })
    }));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.starts_with(goro::DEADLOCK_MESSAGE), "{msg}");
    assert!(msg.contains("[chan receive"), "{msg}");
}

/// A green thread receives what a plain OS thread sends after `before_send` — nothing
/// goro can see for a second.
fn waits_for_an_os_thread(before_send: fn()) {
    let got = goro::run(move || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let t = std::thread::spawn(move || {
            before_send();
            tx.send(7).unwrap();
        });
        let v = rx.recv().unwrap();
        t.join().unwrap();
        v
    });
    assert_eq!(got, 7);
}

fn an_os_thread_that_sleeps_then_sends_is_waited_for() {
    waits_for_an_os_thread(|| std::thread::sleep(Duration::from_secs(1)));
}

fn an_os_thread_that_computes_then_sends_is_waited_for() {
    waits_for_an_os_thread(|| {
        let t = std::time::Instant::now();
        let mut x = 1u64;
        while t.elapsed() < Duration::from_secs(1) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    });
}

fn an_os_thread_waiting_on_std_mpsc_then_sending_is_waited_for() {
    waits_for_an_os_thread(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
    });
}

fn a_green_thread_waiting_for_a_goro_mutex_an_os_thread_holds_is_waited_for() {
    let m = std::sync::Arc::new(goro::sync::Mutex::new(0));
    let held = m.clone();
    let (locked_tx, locked_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut g = held.lock();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(1)); // holds it, invisible to goro
        *g = 7;
    });
    locked_rx.recv().unwrap();
    let v = goro::run(move || *m.lock());
    t.join().unwrap();
    assert_eq!(v, 7);
}

/// goro's signal thread is one of its own: once nothing listens any more, a deadlock is
/// certain again (before, any `notify` turned detection off for good).
fn a_deadlock_after_signals_were_watched_is_still_reported() {
    let rx = goro::signal::notify(&[libc::SIGUSR1]).unwrap();
    drop(rx);
    goro::run(|| {
        let (_tx, rx) = chan::bounded::<u8>(0);
        let _ = rx.recv();
    });
    unreachable!("run returned from a deadlock");
}

/// Every green thread parked while a signal is watched: a signal could still wake one, so
/// no verdict — one "possible deadlock" report, then the signal comes and all is well.
fn a_stall_while_a_signal_is_watched_is_reported_as_possible() {
    let pid = std::process::id() as i32;
    let got = goro::Runtime::builder()
        .possible_deadlock_after(Duration::from_millis(300))
        .run(move || {
            let rx = goro::signal::notify(&[libc::SIGUSR1]).unwrap();
            let waiter = goro::go(move || rx.recv().unwrap());
            // An OS thread goro does not know raises the signal a second later.
            std::thread::Builder::new()
                .name("late-signaller".into())
                .spawn(move || {
                    std::thread::sleep(Duration::from_secs(1));
                    // SAFETY: kill(2) on our own process with a caught signal.
                    unsafe { libc::kill(pid, libc::SIGUSR1) };
                })
                .unwrap();
            waiter.join().unwrap()
        });
    assert_eq!(got, libc::SIGUSR1);
}

/// An OS thread goro does not know (here a stand-in for a library's pool) rules the
/// verdict out; the report names it, and the program goes on.
fn a_stall_behind_an_unknown_os_thread_names_it() {
    let got = goro::Runtime::builder()
        .possible_deadlock_after(Duration::from_millis(300))
        .run(|| {
            let (tx, rx) = chan::bounded::<u32>(0);
            let t = std::thread::Builder::new()
                .name("pool-worker-3".into())
                .spawn(move || {
                    std::thread::sleep(Duration::from_secs(1));
                    tx.send(9).unwrap();
                })
                .unwrap();
            let v = rx.recv().unwrap();
            t.join().unwrap();
            v
        });
    assert_eq!(got, 9);
}

const CASES: &[Case] = &[
    Case {
        name: "a_deadlock_after_signals_were_watched_is_still_reported",
        run: a_deadlock_after_signals_were_watched_is_still_reported,
        fails_with: Some(&[goro::DEADLOCK_MESSAGE, "[chan receive"]),
        prints: &[],
    },
    Case {
        name: "a_stall_while_a_signal_is_watched_is_reported_as_possible",
        run: a_stall_while_a_signal_is_watched_is_reported_as_possible,
        fails_with: None,
        prints: &[
            "goro: possible deadlock",
            "goro-signal: 1 signal(s) watched",
            "[chan receive",
        ],
    },
    Case {
        name: "a_stall_behind_an_unknown_os_thread_names_it",
        run: a_stall_behind_an_unknown_os_thread_names_it,
        fails_with: None,
        prints: &["goro: possible deadlock", "\"pool-worker-3\", not goro's"],
    },
    Case {
        name: "deadlock_under_run_is_reported_with_the_dump",
        run: deadlock_under_run_is_reported_with_the_dump,
        fails_with: Some(&[
            goro::DEADLOCK_MESSAGE,
            "[chan receive",
            "2 live green threads",
        ]),
        prints: &[],
    },
    Case {
        name: "builder_run_reports_a_deadlock_like_run",
        run: builder_run_reports_a_deadlock_like_run,
        fails_with: Some(&[goro::DEADLOCK_MESSAGE, "[chan receive"]),
        prints: &[],
    },
    Case {
        name: "block_on_with_detection_panics_and_the_runtime_recovers",
        run: block_on_with_detection_panics_and_the_runtime_recovers,
        fails_with: None,
        prints: &[],
    },
    Case {
        name: "an_os_thread_that_sleeps_then_sends_is_waited_for",
        run: an_os_thread_that_sleeps_then_sends_is_waited_for,
        fails_with: None,
        prints: &[],
    },
    Case {
        name: "an_os_thread_that_computes_then_sends_is_waited_for",
        run: an_os_thread_that_computes_then_sends_is_waited_for,
        fails_with: None,
        prints: &[],
    },
    Case {
        name: "an_os_thread_waiting_on_std_mpsc_then_sending_is_waited_for",
        run: an_os_thread_waiting_on_std_mpsc_then_sending_is_waited_for,
        fails_with: None,
        prints: &[],
    },
    Case {
        name: "a_green_thread_waiting_for_a_goro_mutex_an_os_thread_holds_is_waited_for",
        run: a_green_thread_waiting_for_a_goro_mutex_an_os_thread_holds_is_waited_for,
        fails_with: None,
        prints: &[],
    },
];

/// Runs `case` in a child; `Err` says what went wrong.
fn check(case: &Case) -> Result<(), String> {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg(case.name).env("RUST_BACKTRACE", "0");
    let out = try_output_within(cmd, Duration::from_secs(60))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match (case.fails_with, out.status.success()) {
        (None, true) => match case.prints.iter().find(|t| !stderr.contains(*t)) {
            None => Ok(()),
            Some(t) => Err(format!("stderr lacks {t:?}:\n{stderr}")),
        },
        (None, false) => Err(format!("failed:\n{stderr}")),
        (Some(_), true) => Err("succeeded, but must report a deadlock".into()),
        (Some(texts), false) => match texts.iter().find(|t| !stderr.contains(*t)) {
            None => Ok(()),
            Some(t) => Err(format!("stderr lacks {t:?}:\n{stderr}")),
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(case) = CASES
        .iter()
        .find(|c| args.first() == Some(&c.name.to_string()))
    {
        (case.run)(); // the child
        return;
    }
    // The parent: libtest's filter argument narrows the cases; its flags are ignored.
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let (mut passed, mut failed) = (0, 0);
    for case in CASES {
        if filter
            .as_ref()
            .is_some_and(|f| !case.name.contains(f.as_str()))
        {
            continue;
        }
        match check(case) {
            Ok(()) => {
                passed += 1;
                println!("test {} ... ok", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("test {} ... FAILED\n{why}", case.name);
            }
        }
    }
    println!("\ndeadlock: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
