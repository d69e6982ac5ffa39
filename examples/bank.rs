//! The bank balance: many green threads move money between accounts under a
//! `goro::sync::Mutex`, and the total never changes.
//! `cargo run --release --example bank [clients] [transfers]`.
//!
//! `goro::sync::Mutex` parks the green thread (not the worker) while it waits, so a
//! thousand clients contending for one lock keep both workers busy with useful work.

use std::sync::Arc;

use goro::sync::{Mutex, WaitGroup};

struct Bank {
    accounts: Vec<i64>,
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let clients = args.next().unwrap_or(1000);
    let transfers = args.next().unwrap_or(1000);
    let (total, moved) = goro::run(move || {
        let bank = Arc::new(Mutex::new(Bank {
            accounts: vec![1_000; 100],
        }));
        let wg = Arc::new(WaitGroup::new());
        wg.add(clients);
        for c in 0..clients {
            let (bank, wg) = (bank.clone(), wg.clone());
            goro::go(move || {
                for t in 0..transfers {
                    let from = (c * 31 + t) % 100;
                    let to = (c * 17 + t * 7 + 1) % 100;
                    let mut b = bank.lock();
                    let amount = (t % 50) as i64;
                    if from != to && b.accounts[from] >= amount {
                        b.accounts[from] -= amount;
                        b.accounts[to] += amount;
                    }
                    drop(b);
                    if t % 64 == 0 {
                        goro::yield_now();
                    }
                }
                wg.done();
            });
        }
        wg.wait();
        let b = bank.lock();
        (b.accounts.iter().sum::<i64>(), clients * transfers)
    });
    println!(
        "{moved} transfers by {clients} green threads; total balance {total} (expected 100000)"
    );
    assert_eq!(total, 100_000);
}
