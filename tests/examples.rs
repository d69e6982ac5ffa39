//! Runs the examples that terminate (small sizes) and checks what they print: the tour
//! (the README's demo), the echo server's load test and idle-connection mode, and every
//! workload of `examples/workloads.rs`, whose one-line
//! output format is the contract with `../shared/anchors/run.sh`.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-xxxx → target/<profile>/examples/<name>
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    p.pop();
    p.push("examples");
    p.push(name);
    assert!(
        p.exists(),
        "{} not built (cargo test builds examples)",
        p.display()
    );
    p
}

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
