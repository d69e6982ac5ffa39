//! One million parked green threads: `cargo run --release --example million [n] [--dump]`
//! (`--dump`: also a goroutine dump of all of them, with stacks, and how long it took).
//!
//! Each green thread parks on a channel receive; the program prints the resident memory
//! and the page-table memory per green thread, and how many kernel mappings the process
//! has. A stack is a 256 KiB *reservation* of which only the pages touched are committed
//! (about one or two 4 KiB pages here), plus a guard page.
//!
//! Stacks are slots of a few 1 GiB regions, guarded with `madvise(MADV_GUARD_INSTALL)`
//! (Linux 6.13): a million green threads take a few hundred mappings, far below Linux's
//! default `vm.max_map_count` of 65 530. On older kernels each stack falls back to a
//! mapping of its own plus an `mprotect` guard, two mappings per green thread: about
//! 30 000 green threads by default, and past that `go` panics (and `try_go` returns an
//! error) naming the limit and the fix (`sudo sysctl -w vm.max_map_count=2200000`).

use std::time::Instant;

use goro::chan::bounded;

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmPTE`).
fn status_kib(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

fn main() {
    let want: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().unwrap());
    goro::run(move || {
        let (rss0, pte0) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
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
        let rss = status_kib("VmRSS:").saturating_sub(rss0) * 1024 / n.max(1);
        let pte = status_kib("VmPTE:").saturating_sub(pte0) * 1024 / n.max(1);
        println!(
            "{n} green threads parked in {:?}; {} live; RSS {} MiB: {rss} bytes per green \
             thread resident + {pte} of page tables = {}; {} kernel mappings",
            t.elapsed(),
            goro::num_goroutines(),
            status_kib("VmRSS:") / 1024,
            rss + pte,
            mappings()
        );
        if std::env::args().any(|a| a == "--dump") {
            // A goroutine dump with every parked green thread's stack (docs ch.8).
            let dump = goro::dump();
            let last = dump.lines().last().unwrap_or_default();
            println!(
                "dump: {} bytes, {} stacks; {last}",
                dump.len(),
                dump.matches("park_green").count()
            );
        }
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
