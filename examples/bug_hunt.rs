//! A small service with three planted bugs, found with goro's own tools: the goroutine
//! dump (grouped by stack, as Go's `/debug/pprof/goroutine?debug=1`), per-processor
//! metrics and the execution trace. Walkthrough: docs chapter 15.
//!
//! ```text
//! cargo run --release --example bug_hunt            # writes /tmp/bug_hunt_trace.json
//! ```
//!
//! The bugs: every request leaves a green thread waiting for a cancellation that never
//! comes (a leak); the cache lock is held across a slow backend call (a slow lock); and a
//! report job computes for 200 ms without a pause (a processor starved of its queue).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan::{bounded, Receiver, Sender};
use goro::sync::Mutex;

/// Handles one request; returns its answer.
fn handle(id: u32, cache: &Mutex<BTreeMap<u32, u32>>, cancels: &Mutex<Vec<Sender<()>>>) -> u32 {
    // Bug 1 (leak): a watcher per request waits for a cancellation; the senders are kept
    // for ever, so no watcher ever finishes.
    let (cancel, cancelled) = bounded::<()>(1);
    cancels.lock().push(cancel);
    goro::go(move || watch_for_cancel(cancelled));
    // Bug 2 (slow lock): the backend call is made with the cache lock held.
    let mut cache = cache.lock();
    let answer = *cache.entry(id % 8).or_insert_with(|| slow_backend(id));
    goro::sleep(Duration::from_millis(2)); // ... and the lock is still held here
    answer
}

#[inline(never)]
fn watch_for_cancel(cancelled: Receiver<()>) {
    let _ = cancelled.recv();
}

#[inline(never)]
fn slow_backend(id: u32) -> u32 {
    goro::sleep(Duration::from_millis(5));
    id * 2
}

/// Bug 3 (starved processor): 200 ms of computing without a park or yield.
#[inline(never)]
fn report_job() -> u64 {
    let until = Instant::now() + Duration::from_millis(200);
    let mut n = 0u64;
    while Instant::now() < until {
        n = std::hint::black_box(n.wrapping_mul(31).wrapping_add(7));
    }
    n
}

/// The dump's green threads grouped by their innermost frame of this program: Go's
/// `goroutine?debug=1` view, which turns 200 blocks into one line per place.
fn group_by_place(dump: &str) -> Vec<(usize, String)> {
    let mut places: BTreeMap<String, usize> = BTreeMap::new();
    for block in dump.split("\n\n").filter(|b| b.starts_with("goroutine ")) {
        let state = block.lines().next().unwrap_or_default();
        let state = state.split('[').nth(1).and_then(|s| s.split(',').next());
        let lines: Vec<&str> = block.lines().collect();
        let place = lines
            .windows(2)
            .find(|w| {
                !w[1].trim().starts_with("created at") && w[1].contains("examples/bug_hunt.rs:")
            })
            .map(|w| {
                format!(
                    "{} ({})",
                    w[0].trim(),
                    w[1].trim().rsplit('/').next().unwrap_or("")
                )
            });
        if let (Some(state), Some(place)) = (state, place) {
            *places.entry(format!("[{state}] {place}")).or_default() += 1;
        }
    }
    let mut v: Vec<(usize, String)> = places.into_iter().map(|(p, n)| (n, p)).collect();
    v.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    v
}

fn main() {
    let trace_path = std::env::temp_dir().join("bug_hunt_trace.json");
    goro::trace::start(&trace_path).expect("trace");
    let rt = goro::Runtime::builder()
        .workers(2)
        .build()
        .expect("runtime");
    let cache = Arc::new(Mutex::new(BTreeMap::new()));
    let cancels = Arc::new(Mutex::new(Vec::new()));
    let (c, k) = (cache.clone(), cancels.clone());
    rt.block_on(move || {
        let report = goro::go(report_job);
        let requests: Vec<_> = (0..200)
            .map(|id| {
                let (c, k) = (c.clone(), k.clone());
                goro::go(move || handle(id, &c, &k))
            })
            .collect();
        goro::sleep(Duration::from_millis(100)); // the service under load

        println!("== goroutine dump, grouped by place (the leak and the slow lock)");
        let started = Instant::now();
        let dump = goro::dump();
        for (n, place) in group_by_place(&dump) {
            println!("{n:5} {place}");
        }
        println!(
            "(dump of {} green threads in {:?})",
            goro::num_goroutines(),
            started.elapsed()
        );
        if let Some(block) = dump.split("\n\n").find(|b| b.contains("[sync.Mutex.Lock")) {
            println!("\none of them in full:\n{block}");
        }

        println!("\n== metrics per processor (the starved one)");
        let m = goro::metrics().expect("inside the runtime");
        for (i, p) in m.per_processor.iter().enumerate() {
            println!(
                "processor {i}: {} resumes, {} parks, {} steals, {} queued, worker thread {}",
                p.resumes, p.parks, p.steals, p.local_queue_depth, p.thread_id
            );
        }
        println!("handoffs so far: {}", m.handoffs);

        report.join().unwrap();
        for r in requests {
            r.join().unwrap();
        }
    });
    drop(cancels); // the leak's cure: dropping the senders lets every watcher finish
    let events = goro::trace::stop().expect("trace");
    println!(
        "\n== execution trace: {events} events in {} (open it in ui.perfetto.dev)",
        trace_path.display()
    );
    let json = std::fs::read_to_string(&trace_path).unwrap_or_default();
    let longest = json
        .lines()
        .filter(|l| l.contains("\"ph\":\"X\""))
        .filter_map(|l| {
            let dur: f64 = l
                .split("\"dur\":")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            let g = l
                .split("\"name\":\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            Some((dur, g))
        })
        .fold((0.0, String::new()), |a, b| if b.0 > a.0 { b } else { a });
    println!(
        "longest run without a switch: {} for {:.1} ms (the report job)",
        longest.1,
        longest.0 / 1000.0
    );
}
