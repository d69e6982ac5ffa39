//! A worker pool: 8 workers take 1 000 jobs from one channel and send results back on
//! another. `cargo run --release --example worker_pool [jobs] [workers]`.
//!
//! Go's classic `jobs`/`results` pattern. The jobs channel is buffered so the producer
//! runs ahead; closing it (dropping the last `Sender`) ends every worker's `for` loop.

use goro::chan::bounded;

/// A small CPU-bound job: the Collatz stopping time of `n`.
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let jobs = args.next().unwrap_or(1000);
    let workers = args.next().unwrap_or(8);
    let (best, per_worker) = goro::run(move || {
        let (job_tx, job_rx) = bounded::<u64>(64);
        let (res_tx, res_rx) = bounded::<(usize, u64, u32)>(64);
        for w in 0..workers {
            let (job_rx, res_tx) = (job_rx.clone(), res_tx.clone());
            goro::go(move || {
                for n in &job_rx {
                    res_tx.send((w, n, collatz_steps(n))).unwrap();
                }
            });
        }
        drop((job_rx, res_tx));
        goro::go(move || {
            for n in 1..=jobs as u64 {
                job_tx.send(n).unwrap();
            }
        });
        let mut best = (0, 0);
        let mut per_worker = vec![0usize; workers];
        for (w, n, steps) in &res_rx {
            per_worker[w] += 1;
            if steps > best.1 {
                best = (n, steps);
            }
        }
        (best, per_worker)
    });
    let done: usize = per_worker.iter().sum();
    println!("{done} jobs done by {workers} workers: {per_worker:?}");
    println!(
        "longest Collatz chain below {}: n = {} ({} steps)",
        jobs + 1,
        best.0,
        best.1
    );
    assert_eq!(done, jobs);
}
