//! The execution trace and flight recorder (`goro::trace`): what a run records, in a form
//! Perfetto and `chrome://tracing` open. One test: the recorder is process-wide.

use std::time::Duration;

mod common;

/// A trace-event JSON document's events of phase `ph` with `name` starting `prefix`.
fn count(json: &str, ph: &str, prefix: &str) -> usize {
    json.lines()
        .filter(|l| l.contains(&format!("\"ph\":\"{ph}\"")))
        .filter(|l| l.contains(&format!("\"name\":\"{prefix}")))
        .count()
}

#[test]
fn the_trace_records_runs_spawns_wakeups_and_the_flight_recorder_keeps_the_last() {
    assert!(goro::trace::stop().is_err(), "nothing to stop yet");
    let path = std::env::temp_dir().join(format!("goro-trace-{}.json", std::process::id()));
    goro::trace::start(&path).unwrap();
    assert!(
        goro::trace::start(&path).is_err(),
        "one recording at a time"
    );
    let rt = common::rt(2);
    rt.block_on(|| {
        let (tx, rx) = goro::chan::bounded::<u32>(0);
        let consumer = goro::go(move || rx.into_iter().sum::<u32>());
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), 4950);
        goro::sleep(Duration::from_millis(5));
        // A marked blocking call gives its processor away: a handoff event.
        goro::blocking(|| std::thread::sleep(Duration::from_millis(1)));
    });
    let events = goro::trace::stop().unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(events > 100, "{events} events");
    assert!(
        json.starts_with('{') && json.trim_end().ends_with("]}"),
        "a JSON document"
    );
    assert!(count(&json, "X", "g ") >= 100, "runs on processor tracks");
    assert!(json.contains("\"then\":\"chan send\"") || json.contains("\"then\":\"chan receive\""));
    assert!(json.contains("\"then\":\"finished\""));
    assert!(
        count(&json, "i", "spawn") >= 2,
        "the block_on root and the consumer"
    );
    assert!(count(&json, "i", "unpark") >= 50, "channel wake-ups");
    assert!(count(&json, "i", "timers fired") >= 1, "the sleep's timer");
    assert!(
        count(&json, "i", "handoff") >= 1,
        "the blocking call's handoff"
    );
    assert!(json.contains("\"name\":\"processor 0\"") || json.contains("\"name\":\"processor 1\""));

    // Flight recorder: recording without a file, a snapshot on demand, the rings bounded.
    goro::trace::start_flight_recorder().unwrap();
    rt.block_on(|| {
        for _ in 0..(goro::trace::RING_EVENTS / 2) {
            goro::yield_now();
        }
    });
    let mut snapshot = Vec::new();
    let kept = goro::trace::snapshot(&mut snapshot).unwrap();
    assert!(kept > 0 && kept <= 2 * goro::trace::RING_EVENTS, "{kept}");
    let json = String::from_utf8(snapshot).unwrap();
    assert!(json.contains("\"then\":\"yield\""));
    assert_eq!(
        goro::trace::stop().unwrap(),
        0,
        "a flight recorder writes no file"
    );
    assert!(!goro::trace::is_recording());
}
