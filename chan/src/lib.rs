//! goro-chan: Go's channels for goro — one hchan type for every capacity, close
//! semantics, `select!` with Go's random choice, and timer channels.
//!
//! Channels park *green threads* (only the green thread waits, its worker runs others)
//! and block plain OS threads; a channel may mix both kinds of parties.
//!
//! ```
//! use goro_chan::{bounded, select};
//! use std::time::Duration;
//!
//! let (tx, rx) = bounded::<i32>(0); // unbuffered: a rendezvous
//! let rt = goro_runtime::Runtime::new().unwrap();
//! rt.spawn(move || for i in 0..3 { tx.send(i).unwrap(); }); // closes on drop
//! let mut got = vec![];
//! loop {
//!     select! {
//!         recv(rx) -> v => match v {
//!             Ok(v) => got.push(v),
//!             Err(_) => break, // closed and drained
//!         },
//!         recv(goro_chan::time::after(Duration::from_secs(5))) -> _ => panic!("timeout"),
//!     }
//! }
//! assert_eq!(got, [0, 1, 2]);
//! ```
//!
//! # Closing and disconnection
//! * `close()` (or the last `Sender` dropping) closes the channel: sends fail with the
//!   value handed back, parked senders wake with theirs, receivers drain the buffer and
//!   then get `Err`.
//! * When the last `Receiver` drops, buffered values are dropped and every send — parked
//!   or future — fails with its value handed back.
//!
//! # Files
//! `hchan.rs` (the core and its invariants), `ring.rs`, `waitq.rs` (waiters and the select
//! claim), `lock.rs`, `channel.rs` (the handles), `select.rs` (selectgo), `select_macro.rs`,
//! `time.rs`, `error.rs`, `iter.rs`, `future.rs` (`recv_async`/`send_async`: async tasks
//! in the wait queues); `context.rs` and `errgroup.rs` (Go's `context` and
//! `errgroup`, built on channels and `goro::sync`); `loom.rs` and `loom_tests.rs` (the loom
//! models of send/recv/close and of select).

#![deny(unsafe_op_in_unsafe_fn)]

mod channel;
pub mod context;
#[cfg(not(loom))] // built on goro::sync, which is not compiled for loom models
pub mod errgroup;
mod error;
pub mod future;
mod hchan;
mod iter;
mod lock;
mod loom;
#[cfg(all(test, loom))]
mod loom_tests;
mod ring;
mod select;
mod select_macro;
#[cfg(not(loom))]
pub mod signal;
pub mod time;
mod waitq;

/// Starts `f` in a detached green thread, or on a new OS thread off the runtime: how
/// `after_func`, `notify_context` and `time::after_func` run their waiters and callbacks
/// (Go starts a goroutine; off the runtime there is none to start).
pub(crate) fn spawn_detached(f: impl FnOnce() + Send + 'static) {
    if goro_runtime::__private::on_runtime() {
        drop(goro_runtime::go(f));
    } else {
        std::thread::spawn(f);
    }
}

pub use channel::{bounded, never, Receiver, Sender};
pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use iter::{IntoIter, Iter, TryIter};
pub use select::{RecvHandle, Select, SendHandle};

#[doc(hidden)]
pub mod __private {
    pub use crate::select::{select_cases, CaseRef, RecvCase, SendCase};
}
