//! goro's example servers, as a library the example binaries (`kv_server`, `http_server`),
//! the benchmark harness (`workloads`) and the tests share — tokio keeps its examples the
//! same way. Each server runs one green thread per connection in blocking style, on
//! `goro::net`:
//!
//! * [`kv`] — a Redis-protocol (RESP2) key-value server: `redis-cli` and `redis-benchmark`
//!   talk to it; its store is either owned by one green thread that serves commands over
//!   a channel, or sharded behind `RwLock`s;
//! * [`http`] — an HTTP/1.1 server on `httparse`: keep-alive, pipelining, chunked bodies,
//!   timeouts, a connection limit;
//! * [`support`] — what both share: the accept loop with Go's back-off, the read buffer,
//!   graceful shutdown.
//!
//! The walkthrough's chapter 11 takes the kv server from a first version to this one.

pub mod http;
pub mod kv;
pub mod support;
