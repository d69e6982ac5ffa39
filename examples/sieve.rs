//! The concurrent prime sieve from the Go tour: a chain of green threads, one per
//! prime, each filtering the multiples of its prime out of the stream.
//! `cargo run --release --example sieve [n]` prints the first `n` primes.

use goro::chan::{bounded, Receiver, Sender};

fn generate(tx: Sender<u64>) {
    for i in 2.. {
        if tx.send(i).is_err() {
            return; // the sieve is done: its receiver was dropped
        }
    }
}

fn filter(input: Receiver<u64>, out: Sender<u64>, prime: u64) {
    for i in input {
        if i % prime != 0 && out.send(i).is_err() {
            return;
        }
    }
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1000, |a| a.parse().unwrap());
    let primes = goro::run(move || {
        let (tx, mut rx) = bounded(1);
        goro::go(move || generate(tx));
        let mut primes = Vec::with_capacity(n);
        for _ in 0..n {
            let prime = rx.recv().unwrap();
            primes.push(prime);
            let (tx2, rx2) = bounded(1);
            goro::go(move || filter(rx, tx2, prime));
            rx = rx2;
        }
        primes // dropping `rx` unwinds the chain: every stage's send fails in turn
    });
    println!(
        "{} primes; the last ten: {:?}",
        primes.len(),
        &primes[n.saturating_sub(10)..]
    );
    assert!(primes.windows(2).all(|w| w[0] < w[1]));
}
