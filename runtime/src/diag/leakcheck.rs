//! Leak checks for tests (Go's `goleak.VerifyNone`): assert that the green threads a test
//! started have finished, and print the dump of the ones that did not.
//!
//! A leaked green thread is one parked forever on a channel nobody will send on, a lock
//! nobody releases, a context nobody cancels: it holds its stack and everything it
//! captured until the runtime drops. Counting is exact for what the checker has observed
//! (see `num_goroutines`), so the check polls until the count is back to the baseline or
//! the deadline passes: green threads that are about to finish get the time to do so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scheduler::Sched;

/// Records the number of live green threads now; [`verify`](LeakCheck::verify) later
/// checks the count came back down.
///
/// ```
/// goro_runtime::run(|| {
///     let check = goro_runtime::LeakCheck::new();
///     let (tx, rx) = std::sync::mpsc::channel();
///     goro_runtime::go(move || tx.send(1).unwrap());
///     assert_eq!(rx.recv().unwrap(), 1);
///     check.verify(std::time::Duration::from_secs(5)); // the sender finishes: no leak
/// });
/// ```
#[derive(Debug)]
pub struct LeakCheck {
    sched: Arc<Sched>,
    baseline: usize,
}

impl LeakCheck {
    /// Baseline from the caller's runtime. Panics outside a runtime (use
    /// [`for_runtime`](Self::for_runtime)).
    pub fn new() -> LeakCheck {
        let sched = crate::scheduler::context::current_sched().expect(
            "goro::LeakCheck::new called outside a goro runtime; use LeakCheck::for_runtime",
        );
        LeakCheck::with(sched)
    }

    /// Baseline from `rt`, for checks made from a plain thread.
    pub fn for_runtime(rt: &crate::Runtime) -> LeakCheck {
        LeakCheck::with(rt.sched().clone())
    }

    fn with(sched: Arc<Sched>) -> LeakCheck {
        let baseline = sched.live();
        LeakCheck { sched, baseline }
    }

    /// Green threads above the baseline right now (0 when none leaked yet).
    pub fn excess(&self) -> usize {
        self.sched.live().saturating_sub(self.baseline)
    }

    /// Waits up to `within` for the count to return to the baseline; `Err` carries the
    /// count and the dump of every live green thread.
    pub fn check(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_micros(100);
        loop {
            let excess = self.excess();
            if excess == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "goro: {excess} green thread(s) leaked (live {}, baseline {}):\n\n{}",
                    self.sched.live(),
                    self.baseline,
                    crate::diag::dump::dump_runtime(&self.sched)
                ));
            }
            crate::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// [`check`](Self::check), panicking with the report on a leak.
    #[track_caller]
    pub fn verify(&self, within: Duration) {
        if let Err(report) = self.check(within) {
            panic!("{report}");
        }
    }
}

impl Default for LeakCheck {
    fn default() -> LeakCheck {
        LeakCheck::new()
    }
}
