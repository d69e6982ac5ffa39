//! `dump()`: every live green thread of every runtime in the process, Go's goroutine dump
//! (`SIGQUIT`, `runtime.Stack(buf, true)`) in text form.
//!
//! ```text
//! goro runtime 1: 2 processors (2 idle), 3 live green threads
//!
//! goroutine 1 [chan receive, 1.204s]:
//!         channel 0x55d0c2a1b2c0 (capacity 0)
//!         created at examples/deadlock.rs:20:5
//!
//! goroutine 7 [sleep, 12ms, wakes in 988ms]:
//!         goro_runtime::park::park_green
//!                 runtime/src/park/mod.rs:375
//!         ...
//!         myapp::poll_loop
//!                 src/main.rs:30
//!         created at src/main.rs:9:13
//! ```
//!
//! It reads what each G records about itself (`coroutine::Diagnostics`: state, since when, what
//! it waits on) with relaxed loads while walking the registry one shard lock at a time:
//! no green thread is stopped, so a G that changes state mid-walk shows either state.
//! Stacks come from `stack_trace.rs` (registers kept at the switch, unwound and named at
//! the dump).
//! Cheap enough for production: the cost is one registry walk.

use crate::lock::Mutex;
use std::fmt::Write as _;
use std::sync::{Arc, Weak};

use crate::g::{GRef, Status, G};
use crate::park::{LockHolder, WaitReason};
use crate::scheduler::Sched;

/// Every runtime of the process, for `dump()` (pruned when one is gone).
static RUNTIMES: Mutex<Vec<(u64, Weak<Sched>)>> = Mutex::new(Vec::new());
static NEXT_RUNTIME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn runtimes() -> std::sync::MutexGuard<'static, Vec<(u64, Weak<Sched>)>> {
    RUNTIMES.lock()
}

/// Lists a new runtime for `dump()`; returns its number.
pub(crate) fn register(sched: &Arc<Sched>) -> u64 {
    let n = NEXT_RUNTIME.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut all = runtimes();
    all.retain(|(_, w)| w.strong_count() > 0);
    all.push((n, Arc::downgrade(sched)));
    n
}

/// Every live green thread of every running goro runtime in the process: id, state
/// (running, runnable, or parked and on what: a channel's address and capacity, a
/// sleep's remaining time, a socket, a lock, a join), how long it has been in that state,
/// its stack if it is switched out (parked or runnable; the default `stack-traces`
/// feature, x86_64), and where it was spawned; the last line says how long the dump
/// took. An empty string when no runtime runs.
///
/// ```
/// goro_runtime::run(|| {
///     let (tx, rx) = std::sync::mpsc::channel::<()>();
///     let h = goro_runtime::go(move || goro_runtime::sleep(std::time::Duration::from_secs(5)));
///     goro_runtime::sleep(std::time::Duration::from_millis(20));
///     let d = goro_runtime::dump();
///     assert!(d.contains("[running"), "{d}");     // the caller
///     assert!(d.contains("[sleep"), "{d}");       // the sleeper
///     assert!(d.contains("created at"), "{d}");
///     # drop((tx, rx, h));
/// });
/// ```
pub fn dump() -> String {
    let all: Vec<(u64, Arc<Sched>)> = runtimes()
        .iter()
        .filter_map(|(n, w)| Some((*n, w.upgrade()?)))
        .filter(|(_, s)| !s.is_shutdown())
        .collect();
    let mut out = String::new();
    for (n, sched) in all {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "goro runtime {n}: ");
        out.push_str(&dump_runtime(&sched));
    }
    out
}

/// [`dump`] written to `w` (Go's `runtime.Stack(buf, true)` into a writer; an HTTP
/// handler's response, a log file).
pub fn dump_to(w: &mut dyn std::io::Write) -> std::io::Result<()> {
    w.write_all(dump().as_bytes())
}

/// The dump of one runtime (also the body of a deadlock report).
pub(crate) fn dump_runtime(sched: &Sched) -> String {
    let started = std::time::Instant::now();
    let now = sched.tick_clock();
    let mut gs: Vec<GRef> = sched
        .registry
        .snapshot()
        .into_iter()
        .filter(|g| g.diag.status() != Status::Dead)
        .collect();
    gs.sort_by_key(|g| g.id());
    let (_, sleeping) = sched.idle.counts();
    let mut out = format!(
        "{} processors ({sleeping} idle), {} live green threads\n",
        sched.num_processors(),
        gs.len()
    );
    let count = gs.len();
    // Worker threads that own a processor: a running green thread on any other thread
    // is one whose processor was handed off (its thread is blocked in it).
    let owners: Vec<i32> = sched
        .remotes
        .iter()
        .map(|r| r.tid.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    // Stack ranges, to name the green thread holding a lock (`LockHolder::Stack`).
    let mut stacks: Vec<(usize, usize, u64)> = gs
        .iter()
        .map(|g| {
            let r = g.guard.usable_range();
            (r.start, r.end, g.id())
        })
        .collect();
    stacks.sort_unstable();
    let ctx = Context {
        now,
        owners: &owners,
        stacks: &stacks,
    };
    for g in gs {
        out.push('\n');
        describe(&mut out, &g, &ctx);
    }
    let _ = writeln!(
        out,
        "\n(dump of {count} green threads took {:.1?})",
        started.elapsed()
    );
    out
}

/// A consistent reading of a G's diagnostics: the status word, then what it waits on, then
/// the status word again (a G that moved meanwhile is read again; the fields are stores
/// by whoever moves the G, and `detail` holds a tick stamp while the G is runnable).
fn read_diag(g: &G) -> (u64, usize, u64, WaitReason) {
    loop {
        let word = g.diag.state_word();
        let (object, detail) = g.diag.waiting_on();
        let reason = WaitReason::from_u8(g.wait_reason.load(std::sync::atomic::Ordering::Relaxed));
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        if g.diag.state_word() == word {
            return (word, object, detail, reason);
        }
    }
}

/// What every green thread's description is read against.
struct Context<'a> {
    /// The coarse clock now.
    now: u64,
    /// OS thread ids of the workers that own a processor.
    owners: &'a [i32],
    /// `(low, high, id)` of every live green thread's stack, sorted.
    stacks: &'a [(usize, usize, u64)],
}

impl Context<'_> {
    /// The green thread whose stack contains `addr`.
    fn stack_owner(&self, addr: u64) -> Option<u64> {
        let addr = addr as usize;
        let i = self.stacks.partition_point(|&(lo, _, _)| lo <= addr);
        let &(lo, hi, id) = self.stacks.get(i.checked_sub(1)?)?;
        (lo..hi).contains(&addr).then_some(id)
    }

    /// "held by …" for a lock waiter's recorded holder.
    fn holder(&self, detail: u64) -> Option<String> {
        match LockHolder::decode(detail)? {
            LockHolder::Readers(n) => Some(format!("held by {n} reader(s)")),
            LockHolder::Stack(at) => Some(match self.stack_owner(at) {
                Some(id) => format!("held by goroutine {id}"),
                None => "held by an OS thread (no live green thread's stack)".to_string(),
            }),
        }
    }
}

fn describe(out: &mut String, g: &G, ctx: &Context<'_>) {
    let (now, owners) = (ctx.now, ctx.owners);
    let (word, object, detail, reason) = read_diag(g);
    let status = crate::g::Diagnostics::status_of(word);
    let age = fmt_ms(now.saturating_sub(word >> 8));
    // `goroutine 7 "parser" [...]` for a green thread named with `Spawn::name`.
    let id = match g.name() {
        Some(name) => format!("{} {name:?}", g.id()),
        None => g.id().to_string(),
    };
    let _ = match status {
        Status::Running if object != 0 && !owners.contains(&(object as i32)) => writeln!(
            out,
            "goroutine {id} [running, {age}]:\n        on OS thread {object}, without a processor (handed off)"
        ),
        Status::Running if object != 0 => writeln!(
            out,
            "goroutine {id} [running, {age}]:\n        on OS thread {object}"
        ),
        Status::Running => writeln!(out, "goroutine {id} [running, {age}]:"),
        Status::Runnable => writeln!(out, "goroutine {id} [runnable, {age}]:"),
        Status::Syscall => writeln!(
            out,
            "goroutine {id} [syscall (goro::blocking), {age}]:\n        on OS thread {object}"
        ),
        Status::Parked if reason == WaitReason::Sleep && detail != 0 => writeln!(
            out,
            "goroutine {id} [sleep, {age}, wakes in {}]:",
            fmt_ms(detail.saturating_sub(now))
        ),
        Status::Parked => writeln!(out, "goroutine {id} [{}, {age}]:", reason.as_str()),
        Status::Dead => return,
    };
    if status == Status::Parked && object != 0 {
        let _ = match reason {
            WaitReason::ChanSend | WaitReason::ChanRecv => {
                writeln!(out, "        channel {object:#x} (capacity {detail})")
            }
            WaitReason::MutexLock | WaitReason::RwLockRead | WaitReason::RwLockWrite => {
                match ctx.holder(detail) {
                    Some(held) => writeln!(out, "        on {object:#x}, {held}"),
                    None => writeln!(out, "        on {object:#x}"),
                }
            }
            _ => writeln!(out, "        on {object:#x}"),
        };
    }
    if status == Status::Parked && reason == WaitReason::Select && detail != 0 {
        let _ = writeln!(out, "        {detail} cases");
    }
    if matches!(status, Status::Parked | Status::Runnable) {
        stack(out, g);
    }
    let site = g
        .spawn_site()
        .map_or_else(|| "(unknown)".to_string(), |l| l.to_string());
    let _ = writeln!(out, "        created at {site}");
}

/// The green thread's stack, innermost frame first (`stack_trace.rs`), as Go prints a
/// goroutine's: the function, then its file and line.
#[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
fn stack(out: &mut String, g: &G) {
    match crate::diag::stack_trace::trace(g) {
        Ok(frames) => {
            for frame in frames {
                let _ = writeln!(out, "        {frame}");
            }
        }
        Err(why) => {
            let _ = writeln!(out, "        (no stack: {why})");
        }
    }
}

#[cfg(not(all(feature = "stack-traces", target_arch = "x86_64", not(loom))))]
fn stack(_: &mut String, _: &G) {}

fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 120_000 {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    } else {
        format!("{} minutes", ms / 60_000)
    }
}
