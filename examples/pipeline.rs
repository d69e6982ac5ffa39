//! A pipeline with direction-typed ends: generate → square → sum.
//! `cargo run --release --example pipeline [n]`.
//!
//! Go writes `func sq(in <-chan int) <-chan int`; in goro the types say it: a stage takes
//! a `Receiver<T>` (it can only receive) and returns the `Receiver` of its output, keeping
//! the `Sender` to itself. When a stage finishes, dropping its `Sender` closes its output,
//! and the close flows down the pipeline.

use goro::chan::{bounded, Receiver};

fn generate(n: u64) -> Receiver<u64> {
    let (tx, rx) = bounded(16);
    goro::go(move || (1..=n).for_each(|i| tx.send(i).unwrap()));
    rx
}

fn square(input: Receiver<u64>) -> Receiver<u64> {
    let (tx, rx) = bounded(16);
    goro::go(move || {
        for v in input {
            tx.send(v * v).unwrap();
        }
    });
    rx
}

/// Fan-in: merge several receivers into one (Go's `merge(cs ...<-chan int)`).
fn merge(inputs: Vec<Receiver<u64>>) -> Receiver<u64> {
    let (tx, rx) = bounded(16);
    for input in inputs {
        let tx = tx.clone();
        goro::go(move || {
            for v in input {
                tx.send(v).unwrap();
            }
        });
    }
    rx
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().unwrap());
    let sum = goro::run(move || {
        let numbers = generate(n);
        // Fan out to three squarers reading the same channel, then fan back in.
        let squares = merge(vec![
            square(numbers.clone()),
            square(numbers.clone()),
            square(numbers),
        ]);
        squares.iter().sum::<u64>()
    });
    let expected = n * (n + 1) * (2 * n + 1) / 6;
    println!("sum of squares 1..={n} = {sum} (expected {expected})");
    assert_eq!(sum, expected);
}
