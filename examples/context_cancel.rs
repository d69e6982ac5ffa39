//! Cancelling a runaway green thread with a `Context`:
//! `cargo run --release --example context_cancel`.
//!
//! A crawler keeps producing work forever; the caller gives it 100 ms
//! (`Context::with_timeout`), and a second one is cancelled by hand after 5 items. Each
//! checks `ctx.done()` in a `select!` next to its real work, as in Go, and returns the
//! context's error (`DeadlineExceeded` or `Canceled`).

use std::time::Duration;

use goro::chan::bounded;
use goro::context::{Context, ContextError};

fn crawler(ctx: Context, out: goro::chan::Sender<u64>) -> ContextError {
    let mut page = 0;
    loop {
        page += 1;
        goro::select! {
            recv(ctx.done()) -> _ => return ctx.err().unwrap(),
            send(out, page) -> r => if r.is_err() { return ContextError::Canceled },
        }
        goro::sleep(Duration::from_millis(1)); // "fetch" the next page
    }
}

fn main() {
    goro::run(|| {
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(100));
        let (tx, rx) = bounded(0);
        let h = goro::go(move || crawler(ctx, tx));
        let mut pages = 0;
        while rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            pages += 1;
        }
        let why = h.join().unwrap();
        println!("crawler 1 stopped after {pages} pages: {why:?}");
        assert_eq!(why, ContextError::DeadlineExceeded);

        let (ctx, cancel) = Context::background().with_cancel();
        let (tx, rx) = bounded(0);
        let h = goro::go(move || crawler(ctx, tx));
        let first: Vec<u64> = rx.iter().take(5).collect();
        cancel.cancel();
        let why = h.join().unwrap();
        println!("crawler 2 cancelled after pages {first:?}: {why:?}");
        assert_eq!(why, ContextError::Canceled);
        println!("live green threads: {}", goro::num_goroutines());
    });
}
