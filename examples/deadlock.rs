//! What Go prints when every goroutine is stuck, goro prints too:
//! `cargo run --release --example deadlock` exits with
//! `fatal: all goroutines are asleep - deadlock!` and a dump of the green threads.
//!
//! The bug: two workers each hold one lock and wait for the other's result on an
//! unbuffered channel that nobody reads. Under `goro::run`, sysmon sees every green thread
//! parked with no timer, socket, blocking call or OS thread left to wake one, and `run`
//! panics with the report instead of hanging forever.

use goro::chan::bounded;

fn main() {
    goro::run(|| {
        let (results_tx, results_rx) = bounded::<u64>(0);
        let workers: Vec<_> = (0..2u64)
            .map(|id| {
                let tx = results_tx.clone();
                goro::go(move || {
                    let answer = id * 21;
                    tx.send(answer).unwrap(); // unbuffered: waits for a receiver
                })
            })
            .collect();
        // Bug: we wait for both workers *before* reading their results.
        for w in workers {
            w.join().unwrap();
        }
        let total: u64 = results_rx.iter().take(2).sum();
        println!("total {total}");
    });
}
