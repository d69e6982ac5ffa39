//! The execution trace and flight recorder (Go's `runtime/trace` and `trace.FlightRecorder`):
//! scheduling events — a green thread running on a processor and how it stopped, spawns,
//! wake-ups, steals, netpoll batches, timer firings, handoffs, stack GC — kept in memory and written
//! as Chrome trace-event JSON, which Perfetto (`ui.perfetto.dev`) and `chrome://tracing`
//! open: one track per processor (which green thread ran when) and one per OS thread
//! (the instant events).
//!
//! ```no_run
//! goro_runtime::trace::start("/tmp/goro-trace.json")?; // like `trace.Start(f)`
//! goro_runtime::run(|| { /* ... */ });
//! let events = goro_runtime::trace::stop()?;           // writes the file
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Or as a flight recorder: [`start_flight_recorder`] keeps recording into the same
//! bounded buffers, which hold the most recent events, and [`snapshot`] writes them at
//! any moment (when a request was slow, when a health check failed).
//!
//! # How
//! Every OS thread that records has a ring of [`RING_EVENTS`] events of its own (written
//! only by that thread, so recording is a few relaxed stores, no lock); the rings are
//! listed in a registry for the reader. A timestamp is the CPU's time-stamp counter
//! (`rdtsc`, converted to nanoseconds at write-out against the clock read at start), so an
//! event costs no clock call. With the recorder off, each event site is one relaxed load
//! of [`ON`] and a branch.
//!
//! # Invariants
//! 1. Only a ring's own thread writes its slots and `head`; a slot is published by storing
//!    its event number last (release), after a marker that says "being written".
//! 2. The reader takes a slot only if its event number is the one expected before and
//!    after it copies the fields (acquire): a slot overwritten meanwhile is skipped.

use std::cell::OnceCell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

use crate::lock::Mutex;

/// Events each thread's ring keeps (the most recent ones).
pub const RING_EVENTS: usize = 1 << 15;

/// Recording is on.
static ON: AtomicBool = AtomicBool::new(false);

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A green thread starts running on a processor (`arg`: the processor).
    Run = 1,
    /// It switched out (`arg`: why, [`Stop`]).
    Stop,
    /// A green thread was spawned.
    Spawn,
    /// A green thread was made runnable (woken).
    Unpark,
    /// A processor stole work (`arg`: the processor).
    Steal,
    /// A netpoll found sockets ready (`arg`: how many green threads it readied).
    Netpoll,
    /// Timers fired (`arg`: how many).
    Timers,
    /// A processor was handed to another thread: by sysmon, by `goro::blocking`, or by a
    /// handoff chain's link (`arg`: the processor).
    Handoff,
    /// sysmon gave freed stacks' memory back (`arg` bit 0) or freed retired green
    /// threads (bit 1): goro's stack GC.
    StackGc,
}

/// Why a green thread switched out (the `arg` of [`Kind::Stop`]): below 256 a park with
/// that `WaitReason`; else one of these.
pub(crate) const STOP_YIELD: u64 = 256;
pub(crate) const STOP_FINISH: u64 = 257;

/// True while recording: event sites test it first (`if trace::on() { trace::record(..) }`),
/// so with the recorder off an event costs one relaxed load and a branch, and its
/// arguments are not even computed.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Records an event on this thread's ring.
#[cold]
#[inline(never)]
pub(crate) fn record(kind: Kind, g: u64, arg: u64) {
    RING.with(|cell| {
        let ring = cell.get_or_init(Ring::register);
        ring.push(super::latency::ticks(), kind, g, arg);
    });
}

thread_local! {
    static RING: OnceCell<Arc<Ring>> = const { OnceCell::new() };
}

/// One thread's events.
#[derive(Debug)]
struct Ring {
    /// The thread's OS id and name, for its track.
    tid: i32,
    name: String,
    /// Events recorded so far (the next one's number).
    head: AtomicU64,
    slots: Box<[Slot]>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The event's number, `u64::MAX` while being written (invariant 1).
    seq: AtomicU64,
    ticks: AtomicU64,
    /// `kind` in the low byte.
    kind: AtomicU64,
    g: AtomicU64,
    arg: AtomicU64,
}

/// Every ring, for the reader; and the clock at start.
static RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());
static STARTED: StdMutex<Option<Start>> = StdMutex::new(None);

#[derive(Debug, Clone)]
struct Start {
    at: Instant,
    ticks: u64,
    path: Option<PathBuf>,
}

impl Ring {
    fn register() -> Arc<Ring> {
        let ring = Arc::new(Ring {
            // SAFETY: gettid(2) has no preconditions.
            tid: unsafe { libc::syscall(libc::SYS_gettid) } as i32,
            name: std::thread::current()
                .name()
                .unwrap_or("thread")
                .to_string(),
            head: AtomicU64::new(0),
            slots: (0..RING_EVENTS).map(|_| Slot::default()).collect(),
        });
        RINGS.lock().push(ring.clone());
        ring
    }

    /// Invariant 1: only this ring's thread calls it.
    fn push(&self, ticks: u64, kind: Kind, g: u64, arg: u64) {
        let n = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[n as usize % RING_EVENTS];
        slot.seq.store(u64::MAX, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        slot.ticks.store(ticks, Ordering::Relaxed);
        slot.kind.store(kind as u64, Ordering::Relaxed);
        slot.g.store(g, Ordering::Relaxed);
        slot.arg.store(arg, Ordering::Relaxed);
        slot.seq.store(n, Ordering::Release);
        self.head.store(n + 1, Ordering::Release);
    }

    /// The events still in the ring, oldest first (invariant 2).
    fn events(&self) -> Vec<Event> {
        let head = self.head.load(Ordering::Acquire);
        let from = head.saturating_sub(RING_EVENTS as u64);
        (from..head)
            .filter_map(|n| {
                let slot = &self.slots[n as usize % RING_EVENTS];
                if slot.seq.load(Ordering::Acquire) != n {
                    return None;
                }
                let e = Event {
                    ticks: slot.ticks.load(Ordering::Relaxed),
                    kind: slot.kind.load(Ordering::Relaxed) as u8,
                    g: slot.g.load(Ordering::Relaxed),
                    arg: slot.arg.load(Ordering::Relaxed),
                };
                std::sync::atomic::fence(Ordering::Acquire);
                (slot.seq.load(Ordering::Relaxed) == n).then_some(e)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
struct Event {
    ticks: u64,
    kind: u8,
    g: u64,
    arg: u64,
}

/// Starts recording; [`stop`] writes the trace to `path` (Go's `trace.Start`). An error if
/// a recording is already on.
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    begin(Some(path.as_ref().to_path_buf()))
}

/// Starts recording without a file: the rings keep each thread's most recent
/// [`RING_EVENTS`] events, and [`snapshot`] writes them whenever asked (Go 1.25's
/// `trace.FlightRecorder`). [`stop`] ends it.
pub fn start_flight_recorder() -> io::Result<()> {
    begin(None)
}

fn begin(path: Option<PathBuf>) -> io::Result<()> {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if started.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "goro::trace: a recording is already on (stop it first)",
        ));
    }
    for ring in RINGS.lock().iter() {
        ring.head.store(0, Ordering::Release); // a new recording starts empty
    }
    *started = Some(Start {
        at: Instant::now(),
        ticks: super::latency::ticks(),
        path,
    });
    ON.store(true, Ordering::Release);
    Ok(())
}

/// True while a recording is on.
pub fn is_recording() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Stops recording; if it was started with a path, writes the trace there. Returns the
/// number of events written (0 for a flight recorder). An error if none was on.
pub fn stop() -> io::Result<usize> {
    ON.store(false, Ordering::Release);
    let start = STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "goro::trace: not recording"))?;
    let written = match &start.path {
        Some(path) => {
            let mut file = io::BufWriter::new(std::fs::File::create(path)?);
            let n = write_json(&start, &mut file)?;
            file.flush()?;
            n
        }
        None => 0,
    };
    // Rings of threads that exited go; the live ones are reused by the next recording.
    RINGS.lock().retain(|r| Arc::strong_count(r) > 1);
    Ok(written)
}

/// Writes what the recorder holds now (each thread's most recent events) as Chrome
/// trace-event JSON; recording goes on. Returns the number of events written.
pub fn snapshot(w: &mut dyn Write) -> io::Result<usize> {
    let start = STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "goro::trace: not recording"))?;
    write_json(&start, w)
}

/// The trace as Chrome trace-event JSON: `pid` 1 holds a track per processor (the green
/// threads' runs as slices), `pid` 2 a track per OS thread (the instant events).
fn write_json(start: &Start, w: &mut dyn Write) -> io::Result<usize> {
    let ns_per_tick = {
        let (ns, ticks) = (
            start.at.elapsed().as_nanos() as f64,
            super::latency::ticks() - start.ticks,
        );
        if ticks == 0 {
            1.0
        } else {
            ns / ticks as f64
        }
    };
    let us = |ticks: u64| ticks.saturating_sub(start.ticks) as f64 * ns_per_tick / 1000.0;
    let rings: Vec<Arc<Ring>> = RINGS.lock().clone();
    let mut out = io::BufWriter::new(w);
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    writeln!(out, "{{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{{\"name\":\"goro processors\"}}}}")?;
    write!(out, ",{{\"ph\":\"M\",\"pid\":2,\"name\":\"process_name\",\"args\":{{\"name\":\"goro OS threads\"}}}}")?;
    let mut written = 0;
    let mut procs = std::collections::BTreeSet::new();
    for ring in &rings {
        write!(
            out,
            "\n,{{\"ph\":\"M\",\"pid\":2,\"tid\":{},\"name\":\"thread_name\",\"args\":{{\"name\":\"{} {}\"}}}}",
            ring.tid,
            json_text(&ring.name),
            ring.tid
        )?;
        let mut running: Option<Event> = None;
        for e in ring.events() {
            if e.ticks < start.ticks {
                continue;
            }
            match e.kind {
                k if k == Kind::Run as u8 => running = Some(e),
                k if k == Kind::Stop as u8 => {
                    // A run is one slice on its processor's track.
                    if let Some(run) = running.take().filter(|r| r.g == e.g) {
                        procs.insert(run.arg);
                        write!(
                            out,
                            "\n,{{\"ph\":\"X\",\"pid\":1,\"tid\":{},\"ts\":{:.3},\"dur\":{:.3},\"name\":\"g {}\",\"args\":{{\"g\":{},\"thread\":{},\"then\":\"{}\"}}}}",
                            run.arg,
                            us(run.ticks),
                            (us(e.ticks) - us(run.ticks)).max(0.0),
                            run.g,
                            run.g,
                            ring.tid,
                            stop_reason(e.arg)
                        )?;
                        written += 1;
                    }
                }
                _ => {
                    write!(
                        out,
                        "\n,{{\"ph\":\"i\",\"s\":\"t\",\"pid\":2,\"tid\":{},\"ts\":{:.3},\"name\":\"{}\",\"args\":{{\"g\":{},\"arg\":{}}}}}",
                        ring.tid,
                        us(e.ticks),
                        kind_name(e.kind),
                        e.g,
                        e.arg
                    )?;
                    written += 1;
                }
            }
        }
    }
    for p in procs {
        write!(
            out,
            "\n,{{\"ph\":\"M\",\"pid\":1,\"tid\":{p},\"name\":\"thread_name\",\"args\":{{\"name\":\"processor {p}\"}}}}"
        )?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(written)
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        k if k == Kind::Spawn as u8 => "spawn",
        k if k == Kind::Unpark as u8 => "unpark",
        k if k == Kind::Steal as u8 => "steal",
        k if k == Kind::Netpoll as u8 => "netpoll",
        k if k == Kind::Timers as u8 => "timers fired",
        k if k == Kind::Handoff as u8 => "handoff",
        k if k == Kind::StackGc as u8 => "stack gc",
        _ => "event",
    }
}

fn stop_reason(arg: u64) -> &'static str {
    match arg {
        STOP_YIELD => "yield",
        STOP_FINISH => "finished",
        reason => crate::park::WaitReason::from_u8(reason as u8).as_str(),
    }
}

/// `s` as the inside of a JSON string.
fn json_text(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}
