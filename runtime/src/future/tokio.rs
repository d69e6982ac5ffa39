//! tokio's context in green threads (`tokio` feature).
//!
//! tokio finds its reactor, timer wheel and spawner through a thread-local "current
//! handle". A green thread moves between worker threads, so goro makes the handle current
//! on **every worker thread for its whole life** (initial workers and spares alike):
//! whichever thread runs a green thread, `tokio::runtime::Handle::current()` answers, so
//! `goro::block_on(tokio::time::sleep(d))` works even though the `Sleep` was made before
//! `block_on` was entered.
//!
//! # Which tokio runtime
//! Chosen once per goro runtime, when it is built:
//! 1. the handle given to `Builder::tokio_handle`;
//! 2. else the handle current on the thread that builds the goro runtime (a program under
//!    `#[tokio::main]`: goro uses the caller's runtime, no second reactor);
//! 3. else one tokio runtime that goro hosts for the whole process, made on first need: a
//!    current-thread runtime driven by one thread of its own (`goro-tokio`), which runs the
//!    reactor, the timers and whatever is `tokio::spawn`ed from green threads. Green
//!    threads poll their own futures; the thread only turns readiness into wake-ups.
//!
//! # Invariants
//! 1. A worker enters the handle before it runs any green thread and leaves it after the
//!    last (`worker::main`), so tokio's stack of entered contexts is well nested on every
//!    worker thread. A green thread that enters a tokio context itself (`Handle::enter`)
//!    must leave it before it can block: it may resume on another thread.
//! 2. The hosted runtime lives as long as the process (its thread never exits), so its
//!    `Handle` is valid forever and `goro-tokio` is one of goro's known helper threads for
//!    deadlock verdicts. It counts as a possible waker while it has live tasks
//!    ([`hosted_tasks`]).

use std::io;
use std::sync::OnceLock;

use tokio::runtime::{EnterGuard, Handle};

/// The process's hosted tokio runtime (rule 3), once made.
static HOSTED: OnceLock<Handle> = OnceLock::new();

/// The tokio runtime a goro runtime being built will use (module docs: the rules).
pub(crate) fn choose(explicit: Option<Handle>) -> io::Result<Handle> {
    if let Some(h) = explicit {
        return Ok(h);
    }
    if let Ok(h) = Handle::try_current() {
        return Ok(h);
    }
    hosted()
}

/// The hosted runtime's handle, starting it on first call.
pub(crate) fn hosted() -> io::Result<Handle> {
    if let Some(h) = HOSTED.get() {
        return Ok(h.clone());
    }
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = START.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = HOSTED.get() {
        return Ok(h.clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("goro-tokio")
        .build()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("goro-tokio".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("goro: cannot start the thread of the hosted tokio runtime: {e}"),
            )
        })?;
    crate::sysmon::helpers::thread_started();
    let _ = HOSTED.set(handle.clone());
    Ok(handle)
}

/// Tasks alive on the hosted runtime (0 if goro hosts none): any of them may send to a
/// channel or wake a green thread later.
pub(crate) fn hosted_tasks() -> usize {
    HOSTED.get().map_or(0, |h| h.metrics().num_alive_tasks())
}

/// For `block_on` on a plain OS thread that is in no tokio context: enters the hosted
/// runtime's for the call, so tokio-based futures work there too. `None` in a green thread
/// (its worker entered one: invariant 1) or where a context is already current.
pub(crate) fn enter_on_os_thread() -> Option<EnterGuard<'static>> {
    if crate::park::in_green_thread() || Handle::try_current().is_ok() {
        return None;
    }
    hosted().ok()?;
    HOSTED.get().map(Handle::enter)
}
