//! A Redis-protocol (RESP2) key-value server: one green thread per connection, the store
//! in either of the two shapes Go's tutorials contrast — one green thread that owns the
//! map and serves commands sent over a channel (`--store owner`), or a sharded map behind
//! `goro::sync::RwLock`s (`--store shared`, the default). Any Redis client talks to it.
//!
//! ```text
//! cargo run --release --example kv_server                        # 127.0.0.1:6380, shared store
//! cargo run --release --example kv_server -- --store owner --addr 127.0.0.1:0
//! redis-cli -p 6380 set greeting hello ex 60 && redis-cli -p 6380 get greeting
//! redis-benchmark -p 6380 -t set,get,incr -n 100000 -q
//! ```
//!
//! Commands: PING, ECHO, GET, SET (EX/PX), DEL, EXISTS, INCR, MGET, MSET, plus CONFIG GET,
//! COMMAND, HELLO, SELECT 0, CLIENT SETNAME/SETINFO and QUIT for clients that ask them.
//! Limits (`resp.rs`): a bulk string up to 16 MiB, 1 048 576 arguments, a request up to
//! 64 MiB, an inline line up to 64 KiB; past them the reply is `-ERR Protocol error` and
//! only that connection closes. All connections' buffers together stay under
//! `--max-client-memory` (1 GiB by default; `conn.rs`), an idle connection holds a 16 KiB
//! read buffer whatever it sent before, and `--idle-timeout SECS` closes silent ones (off
//! by default, as redis-server's `timeout`). SIGINT/SIGTERM shut it down gracefully (`goro::signal`):
//! the listener closes, open connections get 5 s to finish, then the process exits; a
//! second signal ends it at once. The data lives in memory only.

mod commands;
mod conn;
mod resp;
mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::support;
use crate::support::budget::Budget;
use crate::support::shutdown::OpenConns;
pub use conn::serve_connection;
use conn::Backend;

/// A store for [`serve_connection`]: one of the two shapes, started once and shared by
/// every connection (cloning it is cheap), with the limits its connections share.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    budget: Arc<Budget>,
    idle: Option<Duration>,
}

/// The clients' memory budget by default (redis-server's `maxmemory-clients` is off by
/// default; a server open to the network wants one).
pub const DEFAULT_MAX_CLIENT_MEMORY: usize = 1024 * 1024 * 1024;

impl Store {
    /// Starts a store of the named shape: `"owner"` (one green thread owns the map and
    /// serves commands over a channel) or `"shared"` (a sharded map behind `RwLock`s).
    /// `None` for any other name. Its connections share [`DEFAULT_MAX_CLIENT_MEMORY`] and
    /// have no idle timeout (as redis-server by default).
    pub fn start(shape: &str) -> Option<Store> {
        Store::with_limits(shape, DEFAULT_MAX_CLIENT_MEMORY, None)
    }

    /// The same, with the bytes all connections' buffers may hold together
    /// (`maxmemory-clients`: a connection that would pass it gets an error and is closed)
    /// and the time a connection may stay silent before it is closed (`timeout`).
    pub fn with_limits(
        shape: &str,
        max_client_memory: usize,
        idle_timeout: Option<Duration>,
    ) -> Option<Store> {
        Some(Store {
            backend: Backend::start(shape)?,
            budget: Arc::new(Budget::new(max_client_memory)),
            idle: idle_timeout,
        })
    }

    /// Bytes the connections' buffers hold now.
    pub fn client_memory(&self) -> usize {
        self.budget.used()
    }
}

/// How long open connections may go on after a shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

fn usage() -> ! {
    eprintln!(
        "usage: kv_server [--addr HOST:PORT] [--store shared|owner] [--max-client-memory BYTES] [--idle-timeout SECS] [--compact-parked-stacks-ms MS]"
    );
    std::process::exit(2)
}

/// The `kv_server` example: parses its command line and serves until a shutdown signal.
pub fn main() {
    support::large_allocations_go_back_to_the_kernel();
    let (mut addr, mut shape) = ("127.0.0.1:6380".to_string(), "shared".to_string());
    let (mut max_client_memory, mut idle) = (DEFAULT_MAX_CLIENT_MEMORY, None);
    let mut compact_after = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value,
            "--store" => shape = value,
            "--max-client-memory" => max_client_memory = value.parse().unwrap_or_else(|_| usage()),
            "--idle-timeout" => {
                let secs: u64 = value.parse().unwrap_or_else(|_| usage());
                idle = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "--compact-parked-stacks-ms" => {
                let ms = value.parse().unwrap_or_else(|_| usage());
                compact_after = Some(Duration::from_millis(ms));
            }
            _ => usage(),
        }
    }
    support::run(compact_after, move || {
        let store = Store::with_limits(&shape, max_client_memory, idle).unwrap_or_else(|| usage());
        let listener = goro::net::TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("kv_server: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
        // The line tests and scripts wait for, with the port the kernel chose.
        println!("LISTEN {}", listener.local_addr().unwrap());
        eprintln!("kv_server: {shape} store, ready");
        let listener = Arc::new(listener);
        let open = OpenConns::default();
        support::shutdown::close_on_signal(listener.clone(), open.clone());
        let err = support::accept::accept_loop(&listener, |stream, _| {
            let (store, conn) = (store.clone(), open.open());
            goro::go(move || {
                serve_connection(stream, &store);
                drop(conn);
            });
        });
        if err.kind() != std::io::ErrorKind::NotConnected {
            eprintln!("kv_server: accept failed: {err}");
        }
        let left = open.wait_idle(GRACE);
        eprintln!("kv_server: shut down ({left} connections cut after {GRACE:?})");
    })
}
