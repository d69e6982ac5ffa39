//! One green thread per connection: read, parse every complete request, run them, write
//! all the replies at once, read again.
//!
//! Writing only when the read buffer holds no further complete request is what makes
//! pipelining both correct and cheap: a client that sends 100 requests in one packet gets
//! 100 replies, in order, in one `write`; a client that sends one at a time gets each
//! reply at once. The read that follows parks this green thread on the netpoller until
//! the client sends more, and no OS thread waits with it.

use std::io::Write;
use std::sync::Arc;

use goro::chan::{bounded, Sender};
use goro::net::TcpStream;

use crate::kv::commands;
use crate::kv::resp::{self, RequestReader};
use crate::kv::store::{Batch, Shared, Work};

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

/// Serves one connection until the client closes it, sends `QUIT`, or breaks the protocol.
pub fn serve_connection(mut stream: TcpStream, store: &super::Store) {
    let backend = &store.0;
    let _ = stream.set_nodelay(true);
    let mut reader = RequestReader::new();
    // The owner shape's reply channel, made once per connection.
    let (reply_tx, reply_rx) = bounded::<Work>(1);
    let mut work = Work::default();
    loop {
        match reader.fill(&stream) {
            Ok(0) => return, // the client closed the connection
            Ok(_) => {}
            Err(e) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    resp::error(&mut work.out, "ERR Protocol error: request too large");
                    let _ = stream.write_all(&work.out);
                }
                return;
            }
        }
        let invalid = loop {
            match reader.next_request() {
                Ok(Some(request)) => work.requests.push(request),
                Ok(None) => break None,
                Err(why) => break Some(why),
            }
        };
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
        if let Some(why) = invalid.filter(|_| !work.close) {
            resp::error(&mut work.out, &format!("ERR Protocol error: {why}"));
            work.close = true;
        }
        if stream.write_all(&work.out).is_err() || work.close {
            return;
        }
        work.out.clear();
    }
}
