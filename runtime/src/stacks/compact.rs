//! Compaction of long-parked stacks (`Builder::compact_parked_stacks`): a green thread
//! that stays parked gives its stack pages back to the kernel and keeps only the bytes it
//! uses, copied to the heap — Go shrinks a parked goroutine's stack at GC for the same
//! reason.
//!
//! A parked green thread holds at least one 4 KiB page (the top of its stack, where its
//! frames are), plus whatever deeper pages it touched. An idle connection parked in
//! `readable()` or a worker parked on a channel uses a few hundred bytes of it. sysmon
//! (`sysmon.rs`, a batch per round) takes such a stack:
//!
//! ```text
//!   usable_lo                         sp − MARGIN   sp (at the switch)          top
//!     │ dead (below every live frame)      │ MARGIN │ the parked frames          │
//!     └──────────── released ──────────────┴────────┴──── copied out, released ──┘
//! ```
//!
//! and the worker that resumes the green thread copies the bytes back first (`G::resume`
//! → [`restore`]); the pages come back as the copy touches them. A short park never gets
//! here (sysmon takes only stacks parked longer than the option's duration), so parks and
//! wake-ups cost one load of the park word more, and nothing else.
//!
//! # Which stacks
//! Only stacks nothing writes into while their green thread is parked. goro keeps wait
//! records and value slots off the parked frame (`park/mod.rs`, "Keep wait records off
//! the stack"), so the waits listed in [`compactable`] qualify: sleeps, joins, channel
//! sends and receives, sockets, the `goro::sync` primitives. Not `select!` (its cases sit
//! in the caller's frame), futures awaited with `block_on` (an async runtime may hold
//! pointers into the pinned future: tokio's timer entries do), generic `Other`/`Sync`
//! parks of user code, a green thread on a `stack::maybe_grow` segment, or one in a
//! synctest bubble (compaction must not change its schedule). A user who calls the public
//! `park` with one of the listed reasons must follow the same rule.
//!
//! # Invariants
//! 1. sysmon compacts only while it holds the park word (`PARKED → HELD`,
//!    `primitives/park_state.rs` invariant 5): no worker resumes the green thread, and no
//!    waker requeues it, until sysmon lets go. What qualifies a stack (its wait, no
//!    scope) is checked under the hold, when it can no longer change.
//! 2. A green thread marked `COMPACTED` has exactly one entry in [`SAVED`], put before the
//!    mark (the release of the hold orders it). The worker that resumes it takes the
//!    entry out under its shard lock, copies it back, and clears the mark, all before the
//!    coroutine runs.
//! 3. Everything below `sp − MARGIN` is dead when the green thread is switched out:
//!    `sp` is the switching frame's stack pointer (`SwitchRegs`), and the frames between
//!    it and the coroutine's own switch (`Yielder::suspend`, three pushed registers) take
//!    less than [`MARGIN`]. The unit tests check the bound against the coroutine's saved
//!    stack pointer in this build.
//! 4. `dump()` reads a compacted stack from its saved copy, under the shard lock, so the
//!    copy is never freed under it ([`read_saved`]).
//!
//! # Lock order
//! The shard locks are leaves.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::g::G;
use crate::lock::Mutex;
use crate::park::WaitReason;

/// Room left below the switching frame's `sp` for the frames of the switch itself
/// (invariant 3). Measured by the unit test below (2026-12-07): 24 bytes in a release
/// build (`Yielder::suspend` inlined: three pushed registers), 296 in a debug build.
const MARGIN: usize = if cfg!(debug_assertions) { 1024 } else { 512 };

/// Shards of the saved-stack table (by G address).
const SHARDS: usize = 16;

/// A compacted stack's bytes: `[lo, lo + bytes.len())` of its green thread's stack.
struct Saved {
    lo: usize,
    bytes: Box<[u8]>,
}

type Shard = Mutex<BTreeMap<usize, Saved>>;

/// Every compacted stack of the process, by its G's address (invariant 2).
static SAVED: [Shard; SHARDS] = [const { Mutex::new(BTreeMap::new()) }; SHARDS];

/// The shard of `table` that `g`'s entry lives in (by address, as the registry).
fn shard_of<T>(table: &'static [Mutex<T>; SHARDS], g: *const G) -> &'static Mutex<T> {
    &table[(g as usize >> 8) % SHARDS]
}

fn shard(g: &G) -> &'static Shard {
    shard_of(&SAVED, g)
}

/// Green threads inside a `goro::scope` (by G address, with the nesting depth): their
/// scoped green threads borrow the frame, so it must stay in place (invariant 5).
static LENDING: [Mutex<BTreeMap<usize, usize>>; SHARDS] =
    [const { Mutex::new(BTreeMap::new()) }; SHARDS];

fn lending_shard(g: *const G) -> &'static Mutex<BTreeMap<usize, usize>> {
    shard_of(&LENDING, g)
}

/// Marks the running green thread (if any) as lending its stack until the guard drops:
/// `goro::scope` calls it before its scoped green threads can borrow the frame.
pub(crate) fn lend() -> Lend {
    let g = crate::g::context::running_g();
    if let Some(g) = g {
        *lending_shard(g).lock().entry(g as usize).or_insert(0) += 1;
    }
    Lend(g)
}

/// See [`lend`].
pub(crate) struct Lend(Option<*const G>);

impl Drop for Lend {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            let mut map = lending_shard(g).lock();
            if let Some(n) = map.get_mut(&(g as usize)) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&(g as usize));
                }
            }
        }
    }
}

fn is_lending(g: &G) -> bool {
    lending_shard(g)
        .lock()
        .contains_key(&(g as *const G as usize))
}

/// True if `g`'s park (its `wait_reason`) is one whose frame nothing writes into.
fn parked_compactably(g: &G) -> bool {
    let byte = g.wait_reason.load(Ordering::Relaxed) & !crate::park::OUTSIDE_BUBBLE;
    compactable(WaitReason::from_u8(byte))
}

/// True if a green thread parked for `reason` may be compacted (module docs).
pub(crate) fn compactable(reason: WaitReason) -> bool {
    matches!(
        reason,
        WaitReason::Sleep
            | WaitReason::Join
            | WaitReason::ChanSend
            | WaitReason::ChanRecv
            | WaitReason::Io
            | WaitReason::MutexLock
            | WaitReason::RwLockRead
            | WaitReason::RwLockWrite
            | WaitReason::WaitGroupWait
            | WaitReason::CondWait
            | WaitReason::Semacquire
            | WaitReason::OnceWait
    )
}

/// Compacts `g`'s stack: copies its live bytes out and releases its pages. Returns the
/// bytes kept (0: left alone).
///
/// # Safety
/// The caller holds `g`'s park word (`ParkState::hold`, invariant 1) and a reference to
/// `g` (its stack stays mapped).
pub(crate) unsafe fn compact(g: &G) -> usize {
    // Re-checked under the hold: sysmon picked `g` at an earlier park, and it may have
    // been woken and parked again since, on another wait (the hold makes it stable now).
    if !parked_compactably(g) || is_lending(g) {
        return 0;
    }
    let Some((lo, top)) = live_range(g) else {
        return 0;
    };
    let len = top - lo;
    let mut bytes = vec![0u8; len].into_boxed_slice();
    // SAFETY: `[lo, top)` lies in `g`'s usable stack (checked in `live_range`), mapped
    // (caller's reference) and not written by anyone while we hold the park word.
    unsafe { std::ptr::copy_nonoverlapping(lo as *const u8, bytes.as_mut_ptr(), len) };
    shard(g)
        .lock()
        .insert(g as *const G as usize, Saved { lo, bytes });
    let usable = g.guard.usable_range();
    // SAFETY: the whole usable stack is dead or saved (invariant 3), so its pages may
    // read as zeros until the restore writes them back; nobody touches them meanwhile.
    unsafe {
        libc::madvise(
            usable.start as *mut libc::c_void,
            usable.end - usable.start,
            libc::MADV_DONTNEED,
        )
    };
    len
}

/// The live part of a switched-out stack, `[sp − MARGIN, top)`, or `None` if it cannot
/// be told (no switch registers in this build, or a `maybe_grow` segment).
fn live_range(g: &G) -> Option<(usize, usize)> {
    if g.segment_guard.load(Ordering::Relaxed) != 0 {
        return None;
    }
    let usable = g.guard.usable_range();
    let sp = switch_sp(g)?;
    if !usable.contains(&sp) {
        return None;
    }
    // `usable.start` is page-aligned, so the 16-byte rounding stays inside.
    let lo = (sp.saturating_sub(MARGIN) & !15).max(usable.start);
    Some((lo, usable.end))
}

/// The stack pointer of `g`'s switching frame (`diag/stack_trace.rs`, `SwitchRegs`).
#[cfg(all(feature = "stack-traces", target_arch = "x86_64"))]
fn switch_sp(g: &G) -> Option<usize> {
    let at = g.switched_at.load(Ordering::Acquire);
    if at == 0 {
        return None;
    }
    // SAFETY: `at` points at the `SwitchRegs` in the parked frame (stack_trace.rs,
    // invariant 1), readable while `g` stays switched out (we hold its park word).
    Some(unsafe { crate::diag::stack_trace::SwitchRegs::sp_at(at) } as usize)
}

/// Without switch registers the live part cannot be told: nothing is compacted.
#[cfg(not(all(feature = "stack-traces", target_arch = "x86_64")))]
fn switch_sp(_g: &G) -> Option<usize> {
    None
}

/// Copies `g`'s compacted stack back (invariant 2). Called by the worker about to resume
/// `g`, which owns its execution.
#[cold]
#[inline(never)]
pub(crate) fn restore(g: &G) {
    let saved = shard(g).lock().remove(&(g as *const G as usize));
    if let Some(Saved { lo, bytes }) = saved {
        // SAFETY: `[lo, lo + len)` is `g`'s own stack, mapped (the caller holds a
        // reference) and not in use: `g` is not running, and we own its execution.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), lo as *mut u8, bytes.len()) };
    }
    g.park.clear_compacted();
}

/// A word of `g`'s compacted stack from its saved copy (for `dump()`, invariant 4): `None`
/// if `g` is not compacted (any more) or `addr` is outside the copy.
#[cfg_attr(
    not(all(feature = "stack-traces", target_arch = "x86_64")),
    allow(dead_code)
)]
pub(crate) fn read_saved(g: &G, addr: usize) -> Option<u64> {
    let table = shard(g).lock();
    let saved = table.get(&(g as *const G as usize))?;
    let off = addr.checked_sub(saved.lo)?;
    let word = saved.bytes.get(off..off.checked_add(8)?)?;
    Some(u64::from_ne_bytes(word.try_into().ok()?))
}

/// Stacks compacted right now, and the bytes their copies take (`Metrics`).
pub(crate) fn saved_totals() -> (usize, usize) {
    SAVED.iter().fold((0, 0), |(n, b), s| {
        let s = s.lock();
        (
            n + s.len(),
            b + s.values().map(|v| v.bytes.len()).sum::<usize>(),
        )
    })
}

/// Registry slots sysmon looks at per round (one diagnostic-word load each).
const SCAN_PER_ROUND: usize = 8192;
/// Stacks compacted per round at most (a copy and an `madvise` each, ≈ 2–4 µs).
const COMPACT_PER_ROUND: usize = 1024;

/// sysmon's side: walks the registry a batch per round and compacts the stacks of green
/// threads parked longer than `after` on a [`compactable`] wait.
#[derive(Debug)]
pub(crate) struct Compactor {
    after_ms: u64,
    cursor: (usize, usize),
    /// Not before this coarse-clock time does a new pass start.
    next_pass_ms: u64,
}

impl Compactor {
    pub(crate) fn new(after: std::time::Duration) -> Compactor {
        Compactor {
            after_ms: after.as_millis().max(1) as u64,
            cursor: (0, 0),
            next_pass_ms: 0,
        }
    }

    /// One round: true if it compacted something (sysmon keeps its fast pace).
    pub(crate) fn round(&mut self, sched: &crate::scheduler::Sched) -> bool {
        use crate::g::Status;
        let now = sched.coarse_now();
        if now < self.next_pass_ms || sched.bubble.get().is_some() {
            return false;
        }
        let after = self.after_ms;
        let (picked, wrapped) = sched.registry.scan(&mut self.cursor, SCAN_PER_ROUND, |g| {
            g.diag.status() == Status::Parked
                && now.saturating_sub(g.diag.since()) >= after
                && !g.park.is_compacted()
                && g.locked_to.load(Ordering::Relaxed) == 0
                && parked_compactably(g)
        });
        if wrapped {
            // A pass over every G is done; the next starts when today's parks could be due.
            self.next_pass_ms = now + (after / 2).clamp(10, 1000);
        }
        let mut compacted = 0;
        for g in picked.into_iter().take(COMPACT_PER_ROUND) {
            if !g.park.hold() {
                continue; // woken meanwhile (or compacted already)
            }
            // SAFETY: we hold `g`'s park word (invariant 1) and a reference to it.
            let kept = unsafe { compact(&g) };
            compacted += usize::from(kept != 0);
            if g.park.unhold(kept != 0) {
                // A wake-up came while we held it: ours to deliver (park_state.rs, 5).
                let ready = g.sched.readier();
                ready(g);
            }
        }
        compacted > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g::Status;

    /// Invariant 3 in this build: the coroutine's own saved stack pointer (found among
    /// its words: the one closest below the switching frame's `sp`) lies within `MARGIN`
    /// of that `sp`, for parks through `sleep`, a mutex and a join.
    #[test]
    fn the_margin_covers_the_frames_of_the_switch() {
        // Without compaction: the test reads the stacks in place.
        let rt = crate::Runtime::builder().workers(1).build().unwrap();
        let m = std::sync::Arc::new(crate::sync::Mutex::new(()));
        let held = m.lock();
        let m2 = m.clone();
        let sleeper = rt.spawn(|| crate::sleep(std::time::Duration::from_millis(300)));
        let locker = rt.spawn(move || drop(m2.lock()));
        let joiner = rt.spawn(move || sleeper.join().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut checked = 0;
        for g in rt.sched().registry.snapshot() {
            if g.diag.status() != Status::Parked {
                continue;
            }
            let sp = switch_sp(&g).expect("a parked G has switch registers");
            let usable = g.guard.usable_range();
            // SAFETY: the G stays parked (it waits for 300 ms or for `held`).
            let words = unsafe { g.body_words() };
            let real = words
                .iter()
                .copied()
                .filter(|w| usable.contains(w) && *w < sp)
                .max()
                .expect("the coroutine's saved stack pointer");
            eprintln!("switch frames: {} bytes", sp - real);
            assert!(
                sp - real < MARGIN,
                "the switch took {} bytes below sp, MARGIN is {MARGIN}",
                sp - real
            );
            checked += 1;
        }
        assert!(checked >= 3, "{checked} parked green threads seen");
        drop(held);
        locker.join().unwrap();
        joiner.join().unwrap();
    }
}
