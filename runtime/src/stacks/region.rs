//! The stack arena: green-thread stacks carved from large reserved regions, each guarded
//! by `madvise(MADV_GUARD_INSTALL)` instead of a mapping of its own.
//!
//! A separate `mmap` per stack plus an `mprotect`ed guard page costs two kernel mappings
//! (VMAs) per green thread: Linux's default `vm.max_map_count` of 65 530 then caps a
//! process near 30 000 green threads, and every cold spawn and exit pays an `mmap` and a
//! `munmap` (≈ 6 µs together, more under the mmap lock). Linux 6.13 can install a guard
//! region *inside* a mapping without splitting it (`MADV_GUARD_INSTALL`): a page that
//! faults with SIGSEGV like a `PROT_NONE` one, kept across `MADV_DONTNEED`. So stacks of one
//! size are slots in a few 1 GiB regions of address space (`MAP_NORESERVE`: nothing is
//! committed until touched): a million green threads take a few hundred mappings.
//!
//! * A slot's guard is installed once, when the slot is first handed out; a freed slot
//!   keeps it and goes back to its class's free list, never to `munmap`.
//! * Freed slots are *dirty* (their pages still resident) until released: sysmon, on each
//!   tick, gives a batch of `RELEASE_BATCH` of them back to the kernel with one
//!   `MADV_DONTNEED` per run of adjacent slots (a burst of exits frees runs of slots that a
//!   burst of spawns carved in order), so RSS falls back within moments after a burst,
//!   without a syscall on the exiting green threads' path (Go's scavenger does the same in
//!   the background). It waits for the burst to end — no release on a tick during which
//!   the dirty list grew by more than a batch — because each `MADV_DONTNEED` interrupts
//!   every worker with a TLB shoot-down, and releasing memory in the middle of a burst of
//!   exits only to fault it back in for the next burst of spawns helps nobody: the pages
//!   were resident anyway a moment ago. Past `DIRTY_HIGH_WATER` it releases regardless,
//!   and past twice that the freeing thread releases a batch itself (sysmon is behind).
//!   Allocation prefers dirty slots (their top pages are warm).
//! * Where the kernel refuses `MADV_GUARD_INSTALL` (before 6.13, or some sandboxes;
//!   detected once), or `GORO_STACK_GUARD=mprotect` asks for it, stacks fall back to a
//!   mapping each with an `mprotect` guard (`stacks/mod.rs`), under the mapping budget.
//!
//! # Invariants
//! 1. A slot is in exactly one of: handed out (owned by one `Stack`), `dirty`, `free`, or
//!    in a batch being released (owned by the releasing thread).
//! 2. Every slot ever handed out has its guard page installed at its lowest page, and the
//!    guard stays (the kernel keeps guards across `MADV_DONTNEED`).
//! 3. Regions are never unmapped while the process runs: a slot address stays valid
//!    address space forever, so a stale pointer into a freed stack faults at worst.
//!
//! # Lock order
//! `CLASSES` is a leaf lock; the `madvise` calls run without it.

use std::io;

use crate::lock::Mutex;

/// Address space reserved per region (at least one slot).
const REGION_BYTES: usize = 1 << 30;
/// Under a finite `RLIMIT_AS`, regions of this many slots instead (a 1 GiB reservation
/// could exhaust a small limit at once).
const SLOTS_PER_REGION_UNDER_RLIMIT: usize = 64;
/// Dirty slots released at a time (by sysmon, `release_some`).
const RELEASE_BATCH: usize = 1024;
/// Dirty slots past which sysmon releases even while exits go on; twice as many, and the
/// freeing thread releases a batch itself (sysmon is behind).
const DIRTY_HIGH_WATER: usize = 256 * RELEASE_BATCH;
/// `madvise` advice of Linux 6.13 (not in every libc yet).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The slots of one size.
#[derive(Debug)]
struct Class {
    /// Slot length, guard included.
    len: usize,
    /// Freed, pages still resident.
    dirty: Vec<usize>,
    /// `dirty.len()` at sysmon's previous look (to see whether a burst of exits goes on).
    dirty_seen: usize,
    /// Freed and released (or never used but guarded).
    free: Vec<usize>,
    /// The unused tail of the newest region: `next..end`.
    next: usize,
    end: usize,
    /// Regions reserved for this class (start, length).
    regions: Vec<(usize, usize)>,
}

static CLASSES: Mutex<Vec<Class>> = Mutex::new(Vec::new());

/// Whether `MADV_GUARD_INSTALL` works here (and is not disabled by
/// `GORO_STACK_GUARD=mprotect`); decided by the first attempt.
pub(crate) fn guard_install_supported() -> bool {
    use std::sync::OnceLock;
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        if std::env::var("GORO_STACK_GUARD").as_deref() == Ok("mprotect") {
            return false;
        }
        probe_guard_install()
    })
}

/// Installs a guard on a scratch mapping to see whether the kernel knows the advice.
fn probe_guard_install() -> bool {
    let page = super::page_size();
    // SAFETY: an anonymous private mapping at a kernel-chosen address aliases nothing.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: the first page of the scratch mapping we own.
    let ok = unsafe { libc::madvise(mem, page, MADV_GUARD_INSTALL) } == 0;
    // SAFETY: unmapping the scratch mapping, which nothing else refers to.
    unsafe { libc::munmap(mem, 2 * page) };
    ok
}

/// A slot of `len` bytes (guard page included, page-aligned), guard installed: its lowest
/// address, and whether its pages are still resident (a dirty slot: touching its top
/// costs no page fault).
pub(crate) fn alloc(len: usize) -> io::Result<(usize, bool)> {
    let fresh = {
        let mut classes = CLASSES.lock();
        let class = class_of(&mut classes, len);
        if let Some(slot) = class.dirty.pop() {
            return Ok((slot, true)); // guarded already (invariant 2)
        }
        if let Some(slot) = class.free.pop() {
            return Ok((slot, false));
        }
        if class.next + len > class.end {
            reserve_region(class)?;
        }
        let slot = class.next;
        class.next += len;
        slot
    };
    // SAFETY: the slot's lowest page lies in a region we reserved and nobody uses yet.
    if unsafe {
        libc::madvise(
            fresh as *mut libc::c_void,
            super::page_size(),
            MADV_GUARD_INSTALL,
        )
    } != 0
    {
        // The slot is left unused (address space only): without its guard it must never
        // be handed out (invariant 2).
        return Err(io::Error::last_os_error());
    }
    Ok((fresh, false))
}

/// Gives a slot back (its stack is no longer used by anything).
pub(crate) fn free(slot: usize, len: usize) {
    let over = {
        let mut classes = CLASSES.lock();
        let class = class_of(&mut classes, len);
        class.dirty.push(slot);
        class.dirty.len() > 2 * DIRTY_HIGH_WATER
    };
    if over {
        release_batch(len);
    }
}

/// Releases one batch of dirty slots of every class that has more than a batch and whose
/// exits have calmed down (sysmon, every tick; module docs). True if it released
/// anything, or will once a burst ends (sysmon keeps ticking fast meanwhile).
pub(crate) fn release_some() -> bool {
    let mut pending = false;
    let mut lens = Vec::new();
    for c in CLASSES.lock().iter_mut() {
        if c.dirty.len() <= RELEASE_BATCH {
            continue;
        }
        pending = true;
        let growing = c.dirty.len() > c.dirty_seen + RELEASE_BATCH;
        c.dirty_seen = c.dirty.len();
        if !growing || c.dirty.len() > DIRTY_HIGH_WATER {
            lens.push(c.len);
        }
    }
    for &len in &lens {
        release_batch(len);
    }
    pending
}

/// Releases the oldest `RELEASE_BATCH` dirty slots of class `len` (the newest stay: warm
/// for reuse).
fn release_batch(len: usize) {
    let batch = {
        let mut classes = CLASSES.lock();
        let class = class_of(&mut classes, len);
        let n = RELEASE_BATCH.min(class.dirty.len());
        class.dirty.drain(..n).collect::<Vec<_>>()
    };
    let batch = release(batch, len);
    let mut classes = CLASSES.lock();
    class_of(&mut classes, len).free.extend(batch);
}

/// Returns the pages of `slots` to the kernel: one `MADV_DONTNEED` per run of adjacent
/// slots. The guards stay (invariant 2).
fn release(mut slots: Vec<usize>, len: usize) -> Vec<usize> {
    slots.sort_unstable();
    let mut i = 0;
    while i < slots.len() {
        let start = slots[i];
        let mut end = start + len;
        i += 1;
        while i < slots.len() && slots[i] == end {
            end += len;
            i += 1;
        }
        // SAFETY: `start..end` covers freed slots only (invariant 1: this batch is ours),
        // inside a region we reserved; their contents are dead.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
    slots
}

/// The class for slots of `len` bytes, created on first use.
fn class_of(classes: &mut Vec<Class>, len: usize) -> &mut Class {
    match classes.iter().position(|c| c.len == len) {
        Some(i) => &mut classes[i],
        None => {
            classes.push(Class {
                len,
                dirty: Vec::new(),
                dirty_seen: 0,
                free: Vec::new(),
                next: 0,
                end: 0,
                regions: Vec::new(),
            });
            classes.last_mut().expect("just pushed")
        }
    }
}

/// Reserves a new region for `class` (address space only).
fn reserve_region(class: &mut Class) -> io::Result<()> {
    let bytes = if super::rlimit_as_finite() {
        class.len * SLOTS_PER_REGION_UNDER_RLIMIT
    } else {
        REGION_BYTES.max(class.len) / class.len * class.len
    };
    let start = super::reserve(bytes)? as usize;
    class.regions.push((start, bytes));
    class.next = start;
    class.end = start + bytes;
    Ok(())
}
