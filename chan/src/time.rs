//! Timer channels (`goro::time`): ordinary channels fed by runtime timers, so a timeout is
//! just another `recv` case in `select!`.

use std::time::{Duration, Instant};

use crate::channel::{bounded, never, Receiver, Sender};

/// A channel that receives the current time once, after `d` (Go's `time.After`).
///
/// Like Go's, the channel is never closed: after its one value it stays empty. A `d` too
/// large to represent never fires.
///
/// ```
/// use std::time::Duration;
/// let t = goro_chan::time::after(Duration::from_millis(5));
/// assert!(t.recv().is_ok());
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let Some(deadline) = Instant::now().checked_add(d) else {
        return never();
    };
    let (tx, rx) = bounded(1);
    goro_runtime::time::call_at(deadline, move || {
        let _ = tx.try_send(Instant::now());
        tx.detach(); // keep it open, like Go's timer channel
    });
    rx
}

/// A channel that receives the time every `d` (Go's `time.Tick`). It buffers at most one
/// tick: a slow reader misses ticks instead of queueing them. `d == 0` returns a channel
/// that never ticks (Go returns nil). The timer stops once every receiver is dropped.
pub fn tick(d: Duration) -> Receiver<Instant> {
    if d.is_zero() {
        return never();
    }
    let (tx, rx) = bounded(1);
    arm_tick(tx, d, Instant::now().checked_add(d));
    rx
}

fn arm_tick(tx: Sender<Instant>, period: Duration, next: Option<Instant>) {
    let Some(at) = next else {
        tx.detach();
        return;
    };
    goro_runtime::time::call_at(at, move || {
        if tx.chan.receivers.load(std::sync::atomic::Ordering::Acquire) == 0 {
            return; // nobody listens: stop
        }
        let _ = tx.try_send(Instant::now()); // full: drop the tick (Go's behaviour)
        let now = Instant::now();
        // Next tick on the original grid, skipping ticks that were missed entirely.
        let mut next = at.checked_add(period);
        while let Some(n) = next {
            if n > now {
                break;
            }
            next = n.checked_add(period);
        }
        arm_tick(tx, period, next);
    });
}

/// Sleeps for `d` (same as `goro::sleep`).
pub fn sleep(d: Duration) {
    goro_runtime::sleep(d)
}
