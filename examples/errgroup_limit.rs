//! `errgroup` with a limit of 3: fetch 12 "URLs" at most three at a time; the first
//! error cancels the rest. `cargo run --release --example errgroup_limit`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro::context::Context;
use goro::errgroup::Group;

fn main() {
    goro::run(|| {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (mut group, ctx) = Group::<String>::with_context(&Context::background());
        group.set_limit(3);
        for i in 0..12 {
            let (running, peak, ctx) = (running.clone(), peak.clone(), ctx.clone());
            // `go` waits for a free slot: never more than 3 fetches at once.
            group.go(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let r = goro::select! {
                    recv(ctx.done()) -> _ => Err(format!("url {i}: cancelled")),
                    recv(goro::time::after(Duration::from_millis(10))) -> _ => {
                        if i == 7 { Err(format!("url {i}: 503 Service Unavailable")) } else { Ok(()) }
                    },
                };
                running.fetch_sub(1, Ordering::SeqCst);
                r
            });
        }
        let result = group.wait();
        println!("group result: {result:?}");
        println!(
            "at most {} fetches ran at once",
            peak.load(Ordering::SeqCst)
        );
        assert_eq!(result, Err("url 7: 503 Service Unavailable".to_string()));
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(ctx.is_done(), "the first error cancels the group's context");
    });
}
