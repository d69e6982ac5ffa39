//! Log processing fan-in: several green threads parse log files and one aggregator
//! counts the levels. `cargo run --release --example log_fanin [files] [lines]`.
//!
//! The racy version of this program (the seed Go programmers write first) has every
//! parser do `counts[level]++` on a shared map. Here the parsers *send* what they find
//! on one channel and only the aggregator touches the counts: share memory by
//! communicating. Closing happens when the last `Sender` is dropped.

use std::collections::BTreeMap;

use goro::chan::bounded;

const LEVELS: [&str; 4] = ["INFO", "WARN", "ERROR", "DEBUG"];

/// A deterministic fake log file: line `i` of file `f`.
fn log_line(f: usize, i: usize) -> String {
    let level = LEVELS[(f * 7 + i * 13) % LEVELS.len()];
    format!(
        "2026-11-22T12:00:{:02}Z {level} file{f} request {i} done",
        i % 60
    )
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let files = args.next().unwrap_or(16);
    let lines = args.next().unwrap_or(50_000);
    let counts = goro::run(move || {
        let (tx, rx) = bounded::<&'static str>(1024);
        for f in 0..files {
            let tx = tx.clone();
            goro::go(move || {
                for i in 0..lines {
                    let line = log_line(f, i);
                    let level = line.split_whitespace().nth(1).unwrap();
                    let level = LEVELS.iter().find(|l| **l == level).unwrap();
                    tx.send(level).unwrap();
                }
            });
        }
        drop(tx); // the parsers hold the only senders now
        let mut counts = BTreeMap::new();
        for level in &rx {
            *counts.entry(level).or_insert(0usize) += 1;
        }
        counts
    });
    let total: usize = counts.values().sum();
    for (level, n) in &counts {
        println!("{level:<5} {n}");
    }
    println!("total {total} (expected {})", files * lines);
    assert_eq!(total, files * lines, "a line was lost");
}
