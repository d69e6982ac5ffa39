//! `tracing` per green thread (`--features tracing`): spans entered in a green thread stay
//! its own across parks and migrations, and every line names the green thread.
//!
//! One test: the subscriber must be the process's global default (green threads run on
//! worker threads, which a scoped default on the test's thread does not reach), and a
//! global default is set once per process.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `name{field=value}` spans at the start of a fmt line, and its message.
fn spans_and_message(line: &str) -> (Vec<&str>, &str) {
    let (context, message) = line.rsplit_once(": ").expect("a fmt line");
    let context = context.trim_start_matches(|c: char| c.is_ascii_uppercase() || c == ' ');
    (
        context.split(':').filter(|s| !s.is_empty()).collect(),
        message,
    )
}

#[test]
fn spans_stay_with_their_green_thread_across_parks_and_migrations() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_target(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let rt = goro::Runtime::builder().workers(2).build().unwrap();
    let migrated = rt.block_on(|| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                goro::go(move || {
                    let span = tracing::info_span!("request", id = i);
                    let _entered = span.enter();
                    tracing::info!("start");
                    let before = std::thread::current().id();
                    goro::sleep(Duration::from_millis(5 + i % 4));
                    tracing::info!("end");
                    goro::yield_now();
                    tracing::info!("after yield");
                    before != std::thread::current().id()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .filter(|m| *m)
            .count()
    });
    tracing::info!("outside any green thread");

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let mut g_of_request = std::collections::HashMap::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.contains("outside")) {
        let (spans, message) = spans_and_message(line);
        assert_eq!(spans.len(), 2, "one g span and one request span: {line:?}");
        assert!(spans[0].starts_with("g{id="), "{line:?}");
        assert!(spans[1].starts_with("request{id="), "{line:?}");
        let g = g_of_request.entry(spans[1]).or_insert(spans[0]);
        assert_eq!(
            *g, spans[0],
            "request {} moved between green threads",
            spans[1]
        );
        assert!(
            ["start", "end", "after yield"].contains(&message),
            "{line:?}"
        );
        lines += 1;
    }
    assert_eq!(lines, 48, "{text}");
    assert_eq!(g_of_request.len(), 16);
    let outside = text.lines().find(|l| l.contains("outside")).unwrap();
    assert!(
        !outside.contains('{'),
        "no green thread's span leaks onto the caller's thread: {outside:?}"
    );
    eprintln!("{migrated} of 16 green threads woke on another OS thread");
}
