//! An HTTP/1.1 server with one green thread per connection, the shape of Go's
//! `net/http`: keep-alive, pipelining, `Content-Length` and chunked request bodies, read
//! and idle timeouts, and a limit on open connections. Requests are parsed by `httparse`.
//!
//! ```text
//! cargo run --release --example http_server                    # 127.0.0.1:8080
//! cargo run --release --example http_server -- --addr 127.0.0.1:0 --max-conns 1000
//! curl -i http://127.0.0.1:8080/ ; curl http://127.0.0.1:8080/json
//! curl --data-binary @file -H 'Transfer-Encoding: chunked' http://127.0.0.1:8080/echo
//! wrk -t2 -c64 -d8s http://127.0.0.1:8080/
//! ```
//!
//! Routes: `GET /` ("Hello, World!"), `GET /json` (a small JSON object), `POST /echo` (the
//! request body back); with `--debug on`, `GET /debug/goro/dump` (every green thread with
//! its stack, `goro::dump`) and `GET /debug/goro/metrics` (`goro::metrics`, per
//! processor) and `GET /debug/goro/trace?seconds=N` (the execution trace of the next N
//! seconds, for Perfetto), Go's `net/http/pprof` in miniature. Limits and statuses are in `conn.rs`. When `--max-conns`
//! connections are open, the accept loop waits for one to close (new connections queue
//! in the kernel's listen backlog, as with Go's `netutil.LimitListener`) and says so once
//! on stderr. All connections' buffers together stay under `--max-client-memory` (1 GiB by
//! default): the connection that would pass it gets `503` and is closed. SIGINT/SIGTERM
//! shut it down gracefully as Go's `Server.Shutdown` does (`goro::signal`): the listener
//! and the idle keep-alive connections close at once, requests in progress are answered
//! with `Connection: close` within 5 s, then the process exits.

mod conn;

use std::sync::Arc;
use std::time::Duration;

use goro::sync::Semaphore;

use crate::support;
use crate::support::budget::Budget;
use crate::support::shutdown::OpenConns;
pub use conn::{enable_debug_routes, serve_connection, Timeouts};

/// How long open connections may go on after a shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

fn usage() -> ! {
    eprintln!(
        "usage: http_server [--addr HOST:PORT] [--max-conns N] [--read-timeout-ms MS] [--idle-timeout-ms MS] [--max-client-memory BYTES] [--compact-parked-stacks-ms MS] [--debug on]"
    );
    std::process::exit(2)
}

/// The `http_server` example: parses its command line and serves until a shutdown signal.
pub fn main() {
    support::large_allocations_go_back_to_the_kernel();
    let mut addr = "127.0.0.1:8080".to_string();
    let mut max_conns = 10_000;
    let mut timeouts = Timeouts::default();
    let mut max_client_memory = crate::kv::DEFAULT_MAX_CLIENT_MEMORY;
    let mut compact_after = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let ms = || Duration::from_millis(value.parse().unwrap_or_else(|_| usage()));
        match flag.as_str() {
            "--addr" => addr = value.clone(),
            "--max-conns" => max_conns = value.parse().unwrap_or_else(|_| usage()),
            "--read-timeout-ms" => timeouts.read = ms(),
            "--idle-timeout-ms" => timeouts.idle = ms(),
            "--max-client-memory" => max_client_memory = value.parse().unwrap_or_else(|_| usage()),
            "--compact-parked-stacks-ms" => compact_after = Some(ms()),
            "--debug" if value == "on" => enable_debug_routes(),
            _ => usage(),
        }
    }
    support::run(compact_after, move || {
        let listener = goro::net::TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("http_server: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
        println!("LISTEN {}", listener.local_addr().unwrap());
        let listener = Arc::new(listener);
        let open = OpenConns::default();
        let budget = Arc::new(Budget::new(max_client_memory));
        support::shutdown::close_on_signal(listener.clone(), open.clone());
        let slots = Arc::new(Semaphore::new(max_conns));
        let mut at_limit = false;
        let err = support::accept::accept_loop(&listener, |stream, _| {
            // Say so once each time the limit is reached, not once per waiting client.
            // The connection's place under the limit, given back when it closes.
            let slot = match slots.try_acquire_owned() {
                Some(p) => {
                    at_limit = false;
                    p
                }
                None => {
                    if !std::mem::replace(&mut at_limit, true) {
                        eprintln!(
                            "http_server: connection limit ({max_conns}) reached; new connections \
                             wait in the listen backlog (raise --max-conns)"
                        );
                    }
                    slots.acquire_owned()
                }
            };
            let (conn, budget) = (open.open(), budget.clone());
            goro::go(move || {
                conn::serve_tracked(stream, timeouts, &conn, &budget);
                drop((slot, conn));
            });
        });
        if err.kind() != std::io::ErrorKind::NotConnected {
            eprintln!("http_server: accept failed: {err}");
        }
        let left = open.wait_idle(GRACE);
        eprintln!("http_server: shut down ({left} connections cut after {GRACE:?})");
    })
}
