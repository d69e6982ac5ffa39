//! Graceful shutdown, Go's `http.Server.Shutdown` in miniature: on SIGINT or SIGTERM close
//! the listener (the accept loop ends, new clients are refused), close the connections
//! that wait between requests at once, and give the others a grace period to finish the
//! request they are in (answered with `Connection: close`) before the process exits.
//!
//! # Invariants
//! 1. A connection is in `idle` exactly while it waits for the first byte of its next
//!    request (it registers itself with [`ConnGuard::idle`] and leaves with
//!    [`ConnGuard::busy`]). Draining shuts those down for reading: the wait ends with
//!    end-of-file, and bytes that already arrived are still read (Linux keeps them), so a
//!    request that raced with the drain is still answered.
//! 2. `draining` is set before `idle` is emptied, under its lock: a connection that
//!    registers afterwards sees the flag and closes itself.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use goro::chan::bounded;
use goro::net::{TcpListener, TcpStream};
use goro::sync::{Mutex, WaitGroup};

/// Closes `listener` and drains `open` when SIGINT or SIGTERM arrives; a second signal
/// ends the process at once (the default action, restored when the first one's receiver
/// is dropped).
pub(crate) fn close_on_signal(listener: Arc<TcpListener>, open: OpenConns) {
    let signals = goro::signal::notify(&[libc::SIGINT, libc::SIGTERM]).expect("signals");
    goro::go(move || {
        if let Ok(sig) = signals.recv() {
            eprintln!(
                "signal {sig}: closing the listener and idle connections, letting requests finish"
            );
            listener.close();
            open.drain();
        }
    });
}

/// Open connections, counted so shutdown can wait for them (a `WaitGroup`, as Go servers
/// track their connections), and those idle between requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct OpenConns {
    count: WaitGroup,
    state: Arc<DrainState>,
}

#[derive(Debug, Default)]
struct DrainState {
    draining: AtomicBool,
    idle: Mutex<HashMap<u64, Arc<TcpStream>>>,
    next_id: AtomicU64,
}

/// One open connection; it counts until dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    count: WaitGroup,
    state: Arc<DrainState>,
    id: u64,
}

impl OpenConns {
    /// Counts a new connection until the guard drops.
    pub(crate) fn open(&self) -> ConnGuard {
        self.count.add(1);
        ConnGuard {
            count: self.count.clone(),
            state: self.state.clone(),
            id: self.state.next_id.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Closes every idle connection now and tells the others to close after their
    /// current request (invariants 1 and 2).
    pub(crate) fn drain(&self) {
        let mut idle = self.state.idle.lock();
        self.state.draining.store(true, Ordering::Release);
        for (_, stream) in idle.drain() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every connection closed, or `grace` passed; returns how many are left.
    pub(crate) fn wait_idle(&self, grace: Duration) -> usize {
        // `WaitGroup::wait` has no timeout (Go's has none either): a green thread waits
        // on it and closes a channel, which a select races against the grace timer.
        let (closed_tx, all_closed) = bounded::<()>(0);
        let wg = self.count.clone();
        goro::go(move || {
            wg.wait();
            drop(closed_tx);
        });
        goro::select! {
            recv(all_closed) -> _ => {},
            recv(goro::time::after(grace)) -> _ => {},
        }
        self.count.count()
    }
}

impl ConnGuard {
    /// The connection waits for its next request on `stream`; false if the server is
    /// draining (close now instead).
    pub(crate) fn idle(&self, stream: &Arc<TcpStream>) -> bool {
        let mut idle = self.state.idle.lock();
        if self.draining() {
            return false;
        }
        idle.insert(self.id, stream.clone());
        true
    }

    /// The connection's next request began.
    pub(crate) fn busy(&self) {
        self.state.idle.lock().remove(&self.id);
    }

    /// True once shutdown began: finish the current request and close.
    pub(crate) fn draining(&self) -> bool {
        self.state.draining.load(Ordering::Acquire)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.busy();
        self.count.done();
    }
}
