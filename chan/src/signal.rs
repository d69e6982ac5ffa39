//! `goro::signal`: Unix signals as channel values (Go's `os/signal`).
//!
//! # How a signal travels
//! ```text
//!  kernel ─▶ handler (any thread): write(pipe, signo)   ── async-signal-safe, nothing else
//!  "goro-signal" thread: read(pipe) ─▶ try_send(signo) to every channel registered for it
//! ```
//! The handler only writes one byte to a self-pipe (preserving `errno`); a dedicated OS
//! thread reads the pipe and fans each signal out to the registered channels with
//! `try_send`. A channel that is full drops the signal, as Go's does ("the caller must
//! ensure that c has sufficient buffer space"); a receiver that keeps up loses none.
//! Signals are process-wide while runtimes come and go, so delivery is not tied to one
//! runtime's netpoller: the thread works with any number of runtimes, or none.
//!
//! # Unregistering
//! Dropping every `Receiver` of a channel unregisters it; the dispatcher notices at that
//! signal's next delivery. When a signal has no receiver left, its previous disposition
//! (usually the default action) is restored and the signal raised again, so a Ctrl-C
//! after the last receiver is gone ends the program as if goro had never caught it.
//!
//! # Invariants
//! 1. `PIPE_WRITE` is set before any handler is installed and never changes.
//! 2. A handler is installed for a signal only while `REGISTRY` lists it, and the previous
//!    action is saved first; both change only under `REGISTRY`'s lock.
//!
//! # Lock order
//! `REGISTRY` is a leaf: `try_send` never blocks, and nothing else is locked under it.

use goro_runtime::__private::{helpers, Mutex};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::channel::{bounded, Receiver, Sender};
use crate::context::{CancelHandle, Context};

/// The self-pipe's write end (invariant 1); -1 until the dispatcher started.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The signals caught and who listens.
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

struct Registry {
    /// Per caught signal: its listeners and the action to restore without them.
    signals: HashMap<i32, Caught>,
}

struct Caught {
    listeners: Vec<Sender<i32>>,
    previous: libc::sigaction,
}

/// Signals goro does not let a program catch: the uncatchable ones, and the synchronous
/// faults (SIGSEGV is how goro reports a green thread's stack overflow).
const REFUSED: [i32; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
];

/// Delivers the given signals (`libc::SIGINT`, `libc::SIGTERM`, ...) to the returned
/// channel instead of their default action (Go's `signal.Notify`). Several channels may
/// listen to one signal; each gets every delivery. The channel buffers 16 signals; past
/// that, deliveries to it are dropped until it is read (Go's rule for a full channel).
/// Dropping the receiver unregisters it (see the module docs).
///
/// ```no_run
/// goro_runtime::run(|| {
///     let signals = goro_chan::signal::notify(&[libc::SIGINT, libc::SIGTERM]).unwrap();
///     let sig = signals.recv().unwrap(); // parks until Ctrl-C or `kill`
///     eprintln!("got signal {sig}, shutting down");
/// });
/// ```
///
/// An empty list relays every signal a program may catch (Go's `signal.Notify(c)`): all
/// of `1..=SIGRTMAX` but the refused ones below.
///
/// Errors: `InvalidInput` for a signal that cannot be caught (SIGKILL, SIGSTOP) or that
/// goro needs (SIGSEGV, SIGBUS, SIGILL, SIGFPE), or that is out of range; the OS error
/// if the pipe or the dispatcher thread cannot be created.
pub fn notify(signals: &[i32]) -> io::Result<Receiver<i32>> {
    let signals = resolve("notify", signals)?;
    let signals = &signals[..];
    let (tx, rx) = bounded(16);
    let mut reg = REGISTRY.lock();
    if reg.is_none() {
        start_dispatcher()?;
        *reg = Some(Registry {
            signals: HashMap::new(),
        });
    }
    let reg = reg.as_mut().expect("just set");
    for &sig in signals {
        match reg.signals.get_mut(&sig) {
            Some(caught) => caught.listeners.push(tx.clone()),
            None => {
                let previous = install(sig)?;
                reg.signals.insert(
                    sig,
                    Caught {
                        listeners: vec![tx.clone()],
                        previous,
                    },
                );
            }
        }
    }
    drop(tx); // the registry's clones are the senders now
    Ok(rx)
}

/// A child of `parent` that is cancelled when one of `signals` arrives (Go's
/// `signal.NotifyContext`), with a cause that names the signal ("signal 2 received").
///
/// As in Go, the signals stay caught until the returned handle's
/// [`cancel`](CancelHandle::cancel) (Go's `stop()`) or until every clone of the handle is
/// dropped: a second Ctrl-C during a graceful shutdown is caught too, not left to kill
/// the process. After that, the signals' previous actions come back at their next
/// delivery.
///
/// ```no_run
/// use goro_chan::context::Context;
/// goro_runtime::run(|| {
///     let (ctx, stop) = goro_chan::signal::notify_context(&Context::background(), &[libc::SIGINT]);
///     let _ = ctx.done().recv(); // parks until Ctrl-C
///     eprintln!("shutting down: {}", ctx.cause().unwrap());
///     // ... graceful shutdown; another Ctrl-C is still caught ...
///     stop.cancel(); // from here, Ctrl-C has its default action again
/// });
/// ```
///
/// # Panics
/// If a signal cannot be caught (see [`notify`]).
pub fn notify_context(parent: &Context, signals: &[i32]) -> (Context, CancelHandle) {
    let rx = notify(signals).unwrap_or_else(|e| panic!("{e}"));
    let (ctx, cancel) = parent.with_cancel_cause();
    let (stop_tx, stopped) = bounded::<()>(0);
    let handle = cancel.handle().stopping(stop_tx);
    let listen = move || loop {
        crate::select! {
            // Later signals find the context cancelled already: caught, and nothing more.
            recv(rx) -> sig => match sig {
                Ok(sig) => cancel.cancel_with(SignalReceived(sig)),
                Err(_) => return,
            },
            // Stopped: `rx` drops as this returns, and this listener is gone.
            recv(stopped) -> _ => return,
        }
    };
    crate::spawn_detached(listen);
    (ctx, handle)
}

/// The cause of a context cancelled by a signal.
#[derive(Debug)]
struct SignalReceived(i32);

impl std::fmt::Display for SignalReceived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signal {} received", self.0)
    }
}

impl std::error::Error for SignalReceived {}

/// The signals a call names (every catchable one for an empty list), checked: `InvalidInput`
/// names the first that a program cannot catch or that goro needs.
fn resolve(call: &str, signals: &[i32]) -> io::Result<Vec<i32>> {
    if signals.is_empty() {
        return Ok(catchable().collect());
    }
    match signals
        .iter()
        .find(|&&s| !(1..=libc::SIGRTMAX()).contains(&s) || REFUSED.contains(&s))
    {
        Some(bad) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("goro::signal::{call}: signal {bad} cannot be caught by a program"),
        )),
        None => Ok(signals.to_vec()),
    }
}

/// Every signal a program may catch: `1..=SIGRTMAX` but the refused ones (and the
/// realtime signals glibc keeps for itself, between 31 and `SIGRTMIN`).
fn catchable() -> impl Iterator<Item = i32> {
    (1..=31)
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .filter(|s| !REFUSED.contains(s))
}

/// Undoes every earlier [`notify`] for `signals` (all signals goro catches, if empty):
/// their channels get nothing more, and each signal gets back the action it had before
/// goro first caught it (Go's `signal.Reset`).
pub fn reset(signals: &[i32]) {
    let mut reg = REGISTRY.lock();
    let Some(reg) = reg.as_mut() else { return };
    let which: Vec<i32> = if signals.is_empty() {
        reg.signals.keys().copied().collect()
    } else {
        signals.to_vec()
    };
    for sig in which {
        if let Some(caught) = reg.signals.remove(&sig) {
            // SAFETY: restoring the action saved when we installed ours (invariant 2).
            unsafe { libc::sigaction(sig, &caught.previous, std::ptr::null_mut()) };
        }
    }
}

/// Ignores `signals` (every catchable signal, if empty): they are neither delivered to a
/// channel nor given their default action (Go's `signal.Ignore`). A later [`notify`]
/// catches them again.
///
/// Errors: `InvalidInput` for a signal that cannot be ignored or that goro needs (as for
/// [`notify`]).
pub fn ignore(signals: &[i32]) -> io::Result<()> {
    let signals = resolve("ignore", signals)?;
    let mut reg = REGISTRY.lock();
    for &sig in &signals {
        if let Some(reg) = reg.as_mut() {
            reg.signals.remove(&sig); // its channels get nothing more
        }
        // SAFETY: sigaction with a zeroed (valid) struct setting SIG_IGN.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_IGN;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// True if `sig` is ignored right now — by [`ignore`], or because the process started
/// with it ignored (`nohup` does that to SIGHUP) — (Go's `signal.Ignored`).
pub fn ignored(sig: i32) -> bool {
    // SAFETY: querying the current action into a zeroed struct.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// Installs the handler for `sig`, returning the action it replaces (invariant 2).
fn install(sig: i32) -> io::Result<libc::sigaction> {
    // SAFETY: sigaction with zeroed (valid) structs; the handler is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &action, &mut previous) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(previous)
    }
}

/// The signal handler: one byte into the pipe, `errno` preserved. A full pipe drops it.
extern "C" fn handler(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    // SAFETY: `write` and `errno` access are async-signal-safe; the byte is on our stack.
    unsafe {
        let errno = *libc::__errno_location();
        let byte = sig as u8;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// Creates the self-pipe and the dispatcher thread (invariant 1).
fn start_dispatcher() -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // The handler must never block: the write end is non-blocking.
    // SAFETY: fcntl on the descriptor we just created.
    unsafe { libc::fcntl(write_fd, libc::F_SETFL, libc::O_NONBLOCK) };
    std::thread::Builder::new()
        .name("goro-signal".into())
        .spawn(move || dispatch(read_fd))?;
    PIPE_WRITE.store(write_fd, Ordering::Release);
    // Deadlock detection knows this thread, and asks how many signals it delivers to a
    // live channel: while any, a signal from outside could wake a green thread.
    helpers::thread_started();
    helpers::count_signal_watches_with(live_watches);
    Ok(())
}

/// The signals with at least one listener whose channel still has a receiver.
fn live_watches() -> usize {
    let reg = REGISTRY.lock();
    reg.as_ref().map_or(0, |reg| {
        reg.signals
            .values()
            .filter(|c| c.listeners.iter().any(|tx| !tx.is_closed()))
            .count()
    })
}

/// The dispatcher thread: reads signal numbers from the pipe and fans them out.
fn dispatch(read_fd: i32) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reading into our buffer from the pipe we own.
        let n = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return; // cannot happen: we hold the write end open forever
        }
        for &sig in &buf[..n as usize] {
            deliver(i32::from(sig));
        }
    }
}

/// Sends `sig` to its listeners; with none left, restores its previous action and raises
/// it again.
fn deliver(sig: i32) {
    let mut reg = REGISTRY.lock();
    let Some(reg) = reg.as_mut() else { return };
    let Some(caught) = reg.signals.get_mut(&sig) else {
        return;
    };
    // A listener whose receivers are all gone is unregistered; a full one misses this one.
    caught
        .listeners
        .retain(|tx| !matches!(tx.try_send(sig), Err(crate::TrySendError::Closed(_))));
    if caught.listeners.is_empty() {
        let caught = reg.signals.remove(&sig).expect("present");
        // SAFETY: restoring the action saved when we installed ours (invariant 2), then
        // raising the signal so it takes that action now.
        unsafe {
            libc::sigaction(sig, &caught.previous, std::ptr::null_mut());
            libc::raise(sig);
        }
    }
}
