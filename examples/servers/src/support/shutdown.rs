//! Graceful shutdown, Go's `http.Server.Shutdown` in miniature: on SIGINT or SIGTERM close
//! the listener (the accept loop ends, new clients are refused), then give the open
//! connections a grace period to finish before the process exits.

use std::sync::Arc;
use std::time::Duration;

use goro::chan::bounded;
use goro::net::TcpListener;
use goro::sync::WaitGroup;

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

/// Open connections, counted so shutdown can wait for them (a `WaitGroup`, as Go servers
/// track their connections).
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenConns(WaitGroup);

/// One open connection; it counts until dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard(WaitGroup);

impl OpenConns {
    /// Counts a new connection until the guard drops.
    pub(crate) fn open(&self) -> ConnGuard {
        self.0.add(1);
        ConnGuard(self.0.clone())
    }

    /// Waits until every connection closed, or `grace` passed; returns how many are left.
    pub(crate) fn wait_idle(&self, grace: Duration) -> usize {
        // `WaitGroup::wait` has no timeout (Go's has none either): a green thread waits
        // on it and closes a channel, which a select races against the grace timer.
        let (closed_tx, all_closed) = bounded::<()>(0);
        let wg = self.0.clone();
        goro::go(move || {
            wg.wait();
            drop(closed_tx);
        });
        goro::select! {
            recv(all_closed) -> _ => {},
            recv(goro::time::after(grace)) -> _ => {},
        }
        self.0.count()
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}
