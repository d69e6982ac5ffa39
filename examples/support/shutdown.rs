//! Graceful shutdown, Go's `http.Server.Shutdown` in miniature: on SIGINT or SIGTERM close
//! the listener (the accept loop ends, new clients are refused), then give the open
//! connections a grace period to finish before the process exits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::net::TcpListener;

/// Closes `listener` when SIGINT or SIGTERM arrives; a second signal ends the process at
/// once (the default action, restored when the first one's receiver is dropped).
pub(crate) fn close_on_signal(listener: Arc<TcpListener>) {
    let signals = goro::signal::notify(&[libc::SIGINT, libc::SIGTERM]).expect("signals");
    goro::go(move || {
        if let Ok(sig) = signals.recv() {
            eprintln!("signal {sig}: closing the listener, letting open connections finish");
            listener.close();
        }
    });
}

/// Open connections, counted so shutdown can wait for them.
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenConns(Arc<AtomicUsize>);

/// One open connection; it counts until dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard(Arc<AtomicUsize>);

impl OpenConns {
    /// Counts a new connection until the guard drops.
    pub(crate) fn open(&self) -> ConnGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        ConnGuard(self.0.clone())
    }

    /// Waits until every connection closed, or `grace` passed; returns how many are left.
    pub(crate) fn wait_idle(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        while self.0.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            goro::sleep(Duration::from_millis(10));
        }
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
