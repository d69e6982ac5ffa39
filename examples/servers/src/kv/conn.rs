//! One green thread per connection: read, parse every complete request, run them, write
//! the replies, read again.
//!
//! Writing only when the read buffer holds no further complete request is what makes
//! pipelining both correct and cheap: a client that sends 100 requests in one packet gets
//! 100 replies, in order, in one `write`; a client that sends one at a time gets each
//! reply at once. The wait that follows (`readable`) parks this green thread on the
//! netpoller until the client sends more, and no OS thread waits with it.
//!
//! Memory per connection is bounded and given back: between requests a connection holds
//! no buffer (it waits with `readable` and borrows its read and reply buffers from its
//! worker's pool only for a burst, `support/buffers.rs`), replies are written out every
//! [`REPLY_FLUSH`] bytes (1 000 pipelined `GET`s of a 1 MiB value stream out instead of
//! building a 1 GB reply), buffers that grew for one large request or reply shrink once
//! it is done, and every connection's buffers count against one server-wide budget
//! (`support/budget.rs`, redis-server's `maxmemory-clients`): the connection whose growth
//! would pass it gets an error and is closed, and the server goes on.

use std::io::Write;
use std::sync::Arc;

use goro::chan::{bounded, Sender};
use goro::net::TcpStream;

use crate::kv::commands;
use crate::kv::resp::{self, RequestReader};
use crate::kv::store::{Batch, Shared, Work};
use crate::support::budget::Charge;
use crate::support::buffers;

/// Replies are written out once this many bytes are waiting.
pub(crate) const REPLY_FLUSH: usize = 64 * 1024;
/// A reply buffer larger than this after a write is given back.
const REPLY_KEPT: usize = 2 * REPLY_FLUSH;

/// Where a connection's commands run: the store's shape.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// Sent to the owner green thread over a channel.
    Owner(Sender<Batch>),
    /// Run by the connection's own green thread on the sharded, locked map.
    Shared(Arc<Shared>),
}

impl Backend {
    /// Starts a store of the named shape, `"owner"` or `"shared"`.
    pub(crate) fn start(shape: &str) -> Option<Backend> {
        match shape {
            "owner" => Some(Backend::Owner(crate::kv::store::owner())),
            "shared" => Some(Backend::Shared(Shared::start())),
            _ => None,
        }
    }
}

/// Serves one connection until the client closes it, sends `QUIT`, breaks the protocol,
/// stays idle past the idle timeout, or would take more than the clients' memory budget.
pub fn serve_connection(mut stream: TcpStream, store: &super::Store) {
    let backend = &store.backend;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(store.idle);
    let mut reader = RequestReader::new();
    let mut charge = Charge::new(&store.budget);
    // The owner shape's reply channel, made once per connection.
    let (reply_tx, reply_rx) = bounded::<Work>(1);
    let mut work = Work::default();
    loop {
        // Between requests this waits with no buffer lent (`support/buffers.rs`).
        match reader.fill_from(&stream) {
            Ok(0) => return, // the client closed the connection
            Ok(_) => {}
            Err(e) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    resp::error(&mut work.out, "ERR Protocol error: request too large");
                    let _ = stream.write_all(&work.out);
                }
                return; // also the idle timeout (`WouldBlock`)
            }
        }
        let invalid = loop {
            match reader.next_request() {
                Ok(Some(request)) => work.requests.push_back(request),
                Ok(None) => break None,
                Err(why) => break Some(why),
            }
        };
        if !charge.set(reader.memory() + work.out.capacity()) {
            return over_budget(&mut stream, &mut work.out);
        }
        if work.out.capacity() == 0 {
            work.out = buffers::take_cleared();
        }
        // Runs the requests, a reply chunk at a time.
        loop {
            match backend {
                Backend::Shared(store) => {
                    let mut db: &Shared = store;
                    work.close = commands::run_all(&mut work.requests, &mut db, &mut work.out);
                }
                Backend::Owner(owner) => {
                    let batch = Batch {
                        work,
                        reply: reply_tx.clone(),
                    };
                    if owner.send(batch).is_err() {
                        return; // the owner is gone: the server is shutting down
                    }
                    work = reply_rx.recv().expect("the owner replies to every batch");
                }
            }
            let last = work.requests.is_empty() || work.close;
            if let Some(why) = invalid.as_ref().filter(|_| last && !work.close) {
                resp::error(&mut work.out, &format!("ERR Protocol error: {why}"));
                work.close = true;
            }
            if !charge.set(reader.memory() + work.out.capacity()) {
                return over_budget(&mut stream, &mut work.out);
            }
            if stream.write_all(&work.out).is_err() || work.close {
                return;
            }
            work.out.clear();
            if work.out.capacity() > REPLY_KEPT {
                work.out = Vec::new(); // a large reply's buffer goes back
            }
            if last {
                break;
            }
        }
        reader.release();
        buffers::give(std::mem::take(&mut work.out));
        if !charge.set(reader.memory() + work.out.capacity()) {
            return over_budget(&mut stream, &mut work.out);
        }
    }
}

/// The connection would take the server past its clients' memory budget: says so and
/// closes (redis-server closes such a client too).
fn over_budget(stream: &mut TcpStream, out: &mut Vec<u8>) {
    out.clear();
    resp::error(
        out,
        "ERR client buffers over the server's limit (--max-client-memory); closing",
    );
    let _ = stream.write_all(out);
}
