//! `select` with a timeout and with `default`: `cargo run --release --example select_timeout`.
//!
//! A service answers in 2 ms, but every third request takes 800 ms; the caller waits at
//! most 250 ms per request (Go's `case <-time.After(250 * time.Millisecond)`), and a non-blocking poll
//! (`default`) checks for late answers without waiting.

use std::time::Duration;

use goro::chan::bounded;

fn main() {
    let requests: u64 = std::env::args().nth(1).map_or(10, |a| a.parse().unwrap());
    let (answered, timed_out, late) = goro::run(move || {
        let (answered, mut timed_out) = (std::cell::Cell::new(0), 0);
        let (late_tx, late_rx) = bounded::<u64>(requests as usize);
        for id in 0..requests {
            let (tx, rx) = bounded::<u64>(1); // buffered: a late answer never blocks
            let late = late_tx.clone();
            goro::go(move || {
                let delay = if id % 3 == 0 { 800 } else { 2 }; // every third one is slow
                goro::sleep(Duration::from_millis(delay));
                if tx.send(id * 10).is_err() {
                    late.send(id).unwrap(); // nobody waits any more: report it
                }
            });
            goro::select! {
                recv(rx) -> v => {
                    println!("request {id}: answer {}", v.unwrap());
                    answered.set(answered.get() + 1);
                },
                recv(goro::time::after(Duration::from_millis(250))) -> _ => {
                    println!("request {id}: timed out after 250 ms");
                    timed_out += 1;
                },
            }
        }
        goro::sleep(Duration::from_millis(1000)); // let the slow ones finish
        let mut late = 0;
        loop {
            goro::select! {
                recv(late_rx) -> id => { println!("late answer for request {}", id.unwrap()); late += 1 },
                default => break,
            }
        }
        (answered.get(), timed_out, late)
    });
    println!("{answered} answered, {timed_out} timed out, {late} arrived late");
    assert_eq!(answered + timed_out, requests);
    assert_eq!(late, timed_out);
}
