//! One million parked green threads: `cargo run --release --example million [n]`.
//!
//! Each green thread parks on a channel receive; the program prints the resident memory
//! per green thread. A stack is a 256 KiB *reservation* of which only the pages touched
//! are committed (about one or two 4 KiB pages here), plus a guard page.
//!
//! Each stack is one `mmap` plus one `mprotect` guard, i.e. two kernel mappings, and
//! Linux allows `vm.max_map_count` mappings per process (65 530 by default): about
//! 32 000 green threads. Past that, `go` panics (and `try_go` returns an error) naming
//! the limit and the fix: `sudo sysctl -w vm.max_map_count=2200000` for a million.

use std::time::Instant;

use goro::chan::bounded;

fn rss_kib() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530)
}

fn main() {
    let want: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().unwrap());
    let limit = max_map_count();
    if want * 2 > limit {
        println!(
            "note: vm.max_map_count is {limit}, enough for about {} green threads; \
             raise it with `sudo sysctl -w vm.max_map_count={}` to park {want}",
            limit / 2,
            want * 2 + 10_000
        );
    }
    goro::run(move || {
        let before = rss_kib();
        let t = Instant::now();
        let (tx, rx) = bounded::<()>(0);
        let mut handles = Vec::with_capacity(want);
        for _ in 0..want {
            let rx = rx.clone();
            match goro::try_go(move || rx.recv().is_err()) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    println!("stopped at {} green threads: {e}", handles.len());
                    break;
                }
            }
        }
        let n = handles.len();
        goro::sleep(std::time::Duration::from_millis(100)); // let them all park
        let per = (rss_kib().saturating_sub(before)) * 1024 / n.max(1);
        println!(
            "{n} green threads parked in {:?}; {} live; RSS {} MiB, {per} bytes per green thread",
            t.elapsed(),
            goro::num_goroutines(),
            rss_kib() / 1024
        );
        drop((tx, rx)); // close: every receive fails and every green thread returns
        let t = Instant::now();
        let closed = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&woke_with_error| woke_with_error)
            .count();
        println!(
            "closed the channel: {closed} woke with an error and finished in {:?}",
            t.elapsed()
        );
        assert_eq!(closed, n);
    });
}
