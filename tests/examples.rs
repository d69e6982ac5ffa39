//! Runs the examples that terminate (small sizes) and checks what they print: the tour
//! (the README's demo), the echo server's load test and idle-connection mode, and every
//! workload of `examples/harness/workloads.rs`, whose one-line
//! output format is the contract with `../shared/anchors/run.sh`.

mod common;
use common::example;

use std::process::Command;

#[test]
fn tour_runs_every_step() {
    let out = Command::new(example("tour"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "1. spawned",
        "2. 1000 green threads slept",
        "3. a green thread panicked",
        "4. 1000 CPU-bound",
        "5. 400000 yields",
        "6. 100000 channel round trips",
        "7. select: first \"nothing ready (default ran)\", then \"a message\"",
        "live green threads at the end: 1",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

#[test]
fn workloads_print_one_anchor_line_each() {
    for (w, n, unit) in [
        ("spawn", "2000", "ns/task"),
        ("pingpong", "2000", "ns/rt"),
        ("spsc", "20000", "ns/msg"),
        ("mpmc", "20000", "ns/msg"),
        ("select", "5000", "ns/msg"),
        ("yield", "2000", "ns/yield"),
        ("memory", "1000", "B/task"),
        ("sieve", "100", "ms"),
    ] {
        let out = Command::new(example("workloads"))
            .args([w, n])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{w}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = stdout.trim().split(' ').collect();
        assert_eq!(fields.len(), 4, "{w}: {stdout:?}");
        assert_eq!(
            (fields[0], fields[1], fields[3]),
            (w, "goro", unit),
            "{stdout:?}"
        );
        assert!(fields[2].parse::<f64>().unwrap() > 0.0, "{stdout:?}");
    }
    let out = Command::new(example("workloads"))
        .args(["sieve", "100"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("prime #100 = 541"));
}

/// Runs an example to completion and returns its stdout; fails the test on a non-zero exit.
fn run_ok(name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name)).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn echo_server_load_test_counts_every_byte() {
    let stdout = run_ok("echo_server", &["load", "32", "100"]);
    assert!(
        stdout.contains("echoed 204800 bytes over 32 connections x 100 round trips"),
        "{stdout}"
    );
}

#[test]
fn echo_server_holds_idle_connections() {
    let stdout = run_ok("echo_server", &["idle", "300"]);
    assert!(stdout.contains("holding 300 idle connections"), "{stdout}");
    assert!(
        stdout.contains("all 300 connections still echo"),
        "{stdout}"
    );
}

#[test]
fn log_fanin_counts_every_line() {
    let out = run_ok("log_fanin", &["4", "1000"]);
    assert!(out.contains("total 4000 (expected 4000)"), "{out}");
}

#[test]
fn bank_keeps_the_total() {
    let out = run_ok("bank", &["50", "200"]);
    assert!(out.contains("total balance 100000"), "{out}");
}

#[test]
fn worker_pool_does_every_job() {
    let out = run_ok("worker_pool", &["1000", "8"]);
    assert!(out.contains("1000 jobs done by 8 workers"), "{out}");
    assert!(out.contains("n = 871 (178 steps)"), "{out}");
}

#[test]
fn pipeline_sums_squares() {
    let out = run_ok("pipeline", &["1000"]);
    assert!(out.contains("= 333833500 (expected 333833500)"), "{out}");
}

#[test]
fn select_timeout_and_default() {
    let out = run_ok("select_timeout", &["6"]);
    assert!(
        out.contains("4 answered, 2 timed out, 2 arrived late"),
        "{out}"
    );
}

#[test]
fn context_cancels_runaway_green_threads() {
    let out = run_ok("context_cancel", &[]);
    assert!(out.contains("DeadlineExceeded"), "{out}");
    assert!(
        out.contains("cancelled after pages [1, 2, 3, 4, 5]: Canceled"),
        "{out}"
    );
    assert!(out.contains("live green threads: 1"), "{out}");
}

#[test]
fn errgroup_limits_and_cancels() {
    let out = run_ok("errgroup_limit", &[]);
    assert!(out.contains("503 Service Unavailable"), "{out}");
    assert!(out.contains("fetches ran at once"), "{out}"); // the example asserts <= 3
}

#[test]
fn sieve_prints_primes() {
    let out = run_ok("sieve", &["100"]);
    assert!(
        out.contains(
            "100 primes; the last ten: [467, 479, 487, 491, 499, 503, 509, 521, 523, 541]"
        ),
        "{out}"
    );
}

#[test]
fn many_parked_green_threads_report_their_memory() {
    let out = run_ok("million", &["10000"]);
    assert!(out.contains("10000 green threads parked"), "{out}");
    assert!(out.contains("bytes per green thread"), "{out}");
    assert!(out.contains("10000 woke with an error"), "{out}");
}

#[test]
fn deadlock_example_prints_gos_message() {
    let out = Command::new(example("deadlock")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("fatal: all goroutines are asleep - deadlock!"),
        "{stderr}"
    );
    assert!(stderr.contains("[chan send"), "{stderr}");
    assert!(stderr.contains("examples/deadlock.rs"), "{stderr}");
}

/// The reliability stress example at its smallest scale: spawn churn with panics,
/// channels through `select!`, timers, sockets, cancellation. It checks its own counts and
/// exits non-zero on any mismatch; CI also runs it under valgrind (`.ci/run`).
#[test]
fn stress_counts_everything_it_sends() {
    let out = Command::new(example("stress")).arg("1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "spawn: 86 returned, 14 panicked as planned",
        "channels: 1200 messages through select, sum checked",
        "timers: 50 sleepers woke on time, 5 ticks read",
        "sockets: 4 connections echoed",
        "a panic mid-select lost nothing",
        "stress ok at scale 1",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn liveness_prints_all_scenarios() {
    // Figures, not assertions on time: CI machines vary. It must finish and print each row:
    // the 16 scenarios, and the same 8 blocking ones marked with `goro::blocking`.
    let out = run_ok("liveness", &[]);
    let rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && l.ends_with(" ms |"));
    assert_eq!(rows.count(), 24, "{out}");
}

#[test]
fn blocked_calls_prints_every_client() {
    // Figures, not assertions on time: 200 requests each way must complete and print a row.
    let out = run_ok("blocked_calls", &["200"]);
    let rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| client"));
    assert_eq!(rows.count(), 5, "{out}"); // direct, blocking, goro::net, threads, ureq
}

/// The planted bugs of docs ch.15 show in the tools: the leak and the slow lock in the
/// dump grouped by place, the starving job in the trace.
#[test]
fn bug_hunt_finds_its_three_planted_bugs() {
    let out = run_ok("bug_hunt", &[]);
    let line = |what: &str, place: &str| {
        out.lines()
            .find(|l| l.contains(what) && l.contains(place))
            .and_then(|l| l.split_whitespace().next()?.parse::<usize>().ok())
            .unwrap_or(0)
    };
    assert!(
        line("[chan receive]", "watch_for_cancel") >= 100,
        "the leak: {out}"
    );
    assert!(
        line("[sync.Mutex.Lock]", "handle") >= 10,
        "the slow lock: {out}"
    );
    assert!(out.contains("longest run without a switch: g "), "{out}");
    let ms: f64 = out
        .lines()
        .find_map(|l| l.split(" for ").nth(1)?.split(" ms").next()?.parse().ok())
        .expect("the longest run");
    assert!(ms >= 150.0, "the 200 ms job: {out}");
}
