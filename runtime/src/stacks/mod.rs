//! Green-thread stacks: guarded, lazily committed, pooled, shrunk on return.
//!
//! A stack is one private anonymous mapping:
//!
//! ```text
//!   limit                guard_end                                   base (top)
//!     │ PROT_NONE guard  │  read/write, MAP_NORESERVE: pages committed on first touch │
//!     └──── 1 page ──────┴──────────────────────── reservation ──────────────────────┘
//!                                                 stack grows downwards ◀──────────────
//! ```
//!
//! * **Growable.** The reservation (`Builder::stack_size`, 256 KiB by default) is only
//!   address space; the kernel commits a physical page the first time the green thread
//!   touches it. A green thread that uses 3 KiB costs one page of RSS.
//! * **Guarded.** Running off the bottom hits the `PROT_NONE` page; `overflow.rs` turns
//!   that SIGSEGV into a message naming the green thread and `Builder::stack_size`.
//! * **Pooled.** Mapping and unmapping cost ≈ 6 µs, 25× Go's whole spawn, so a finished
//!   green thread keeps its stack and waits in a free list for the next spawn
//!   (`scheduler/gpool.rs`, Go's `gfput`/`gfget`). Spawning makes no syscall in the steady
//!   state.
//! * **Shrunk.** A stack that grew deep is handed back to the kernel below its top
//!   pages (`madvise(MADV_DONTNEED)`) when it returns to the pool, so one deep call
//!   does not pin its pages forever. Depth is detected without a syscall by reading a
//!   watermark line at a fixed depth: fresh or freed pages read as zero.
//! * **Compacted** (opt-in): a long-parked green thread's live bytes are copied out and
//!   its pages released, then copied back before it runs (`compact.rs`).
//! * **Limits.** Each stack is 2 kernel mappings (VMAs), so `vm.max_map_count` (65530 by
//!   default) caps live green threads near 30 000. goro stops mapping stacks while
//!   `max_map_count / 16` mappings (at least 4096) are still free: the rest of the process
//!   — `malloc`, thread stacks, and the panic that reports the limit, which reads
//!   `/proc/self/maps` to print a backtrace — must still be able to map memory. (Without
//!   that headroom, `RUST_BACKTRACE=1` turned the limit into a hang inside std's backtrace
//!   printer.) Hitting the budget, or a failed `mmap`/`mprotect`, becomes an `io::Error`
//!   that names the limit and the fix, never a crash.

#[cfg(not(loom))]
pub(crate) mod compact;
mod region;
mod valgrind;

pub(crate) use region::release_some as release_free_stacks;

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack as CoroStack, StackPointer};

/// Default reservation per green thread.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest reservation `Builder::stack_size` accepts: the entry trampoline, a panic's
/// unwinding machinery and a few frames of user code must fit. Measured here: a panic
/// with `RUST_BACKTRACE=1` (std's printer symbolizes on the panicking stack) overflowed
/// 16 and 20 KiB and fit in 32 KiB, in debug and release builds; 64 KiB leaves the user's
/// frames as much again.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// Pages at the top of a returning stack that are never released (they are hot: the
/// next green thread's first frames land there).
const KEEP_BYTES: usize = 8 * 1024;
/// Depth of the watermark line. A stack whose line is dirty went at least this deep.
const WATERMARK_DEPTH: usize = 32 * 1024;

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// One guarded stack mapping. Owns the mapping; unmaps it on drop.
/// Stacks mapped right now, in the whole process (every runtime).
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// How many stacks the process may map: two mappings each, leaving headroom (module docs).
/// `GORO_MAX_STACKS=n` sets it instead (a cap on green threads alive at once, e.g. for a
/// container's memory budget); read once per process. A malformed value is refused by
/// `Builder::build` ([`check_env`]); here it falls back to the mapping budget.
fn stack_budget() -> (usize, BudgetSource) {
    static BUDGET: OnceLock<(usize, BudgetSource)> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        if let Some(Ok(n)) = env_max_stacks() {
            return (n, BudgetSource::Env);
        }
        match max_map_count() {
            Some(maps) => (budget_for(maps), BudgetSource::MapCount(maps)),
            None => (usize::MAX, BudgetSource::Unlimited), // no /proc: mmap reports the limit
        }
    })
}

/// Where the stack budget comes from, so its error names the limit actually hit.
#[derive(Clone, Copy, Debug)]
enum BudgetSource {
    Env,
    MapCount(usize),
    Unlimited,
}

/// `GORO_MAX_STACKS`, if set: a positive integer, or the malformed text.
fn env_max_stacks() -> Option<Result<usize, String>> {
    let v = std::env::var("GORO_MAX_STACKS").ok()?;
    Some(match v.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(v),
    })
}

/// Refuses a malformed `GORO_MAX_STACKS` (as a malformed `GORO_MAXPROCS` is refused).
pub(crate) fn check_env() -> io::Result<()> {
    match env_max_stacks() {
        Some(Err(v)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("goro: GORO_MAX_STACKS must be a positive integer, got {v:?}"),
        )),
        _ => Ok(()),
    }
}

/// Address space goro leaves unmapped under a finite `RLIMIT_AS`: a sixteenth of the
/// limit, at least this much. The panic that reports the limit needs it — with
/// `RUST_BACKTRACE=1` std's printer maps the binary's debug info — and without it that
/// panic failed to allocate and hung (6 of 10 runs).
const MIN_AS_HEADROOM: u64 = 64 << 20;

/// Reserves `len` bytes of read/write address space for stacks (`MAP_NORESERVE`: nothing
/// is committed until touched), keeping the `RLIMIT_AS` headroom.
fn reserve(len: usize) -> io::Result<*mut libc::c_void> {
    address_space_headroom(len)?;
    // SAFETY: an anonymous private mapping at a kernel-chosen address aliases nothing.
    let mem = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(mem)
}

/// True if `RLIMIT_AS` is finite.
fn rlimit_as_finite() -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0;
    ok && lim.rlim_cur != libc::RLIM_INFINITY
}

/// Refuses a new mapping of `len` bytes that would leave less than the headroom under
/// `RLIMIT_AS`. One `getrlimit` per new mapping; `/proc` is read only under a finite limit.
fn address_space_headroom(len: usize) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return Ok(());
    }
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every target
    let limit = lim.rlim_cur as u64;
    let Some(used) = vm_size() else { return Ok(()) };
    let headroom = (limit / 16).max(MIN_AS_HEADROOM);
    if used + len as u64 + headroom > limit {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            AddressSpaceExhausted {
                used,
                limit,
                headroom,
            },
        ));
    }
    Ok(())
}

/// `RLIMIT_AS` leaves no room for another stack plus the headroom (for [`map_error`]).
#[derive(Debug)]
struct AddressSpaceExhausted {
    used: u64,
    limit: u64,
    headroom: u64,
}

impl std::fmt::Display for AddressSpaceExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MiB of RLIMIT_AS = {} MiB are mapped, and goro keeps {} MiB free",
            self.used >> 20,
            self.limit >> 20,
            self.headroom >> 20
        )
    }
}

impl std::error::Error for AddressSpaceExhausted {}

/// The process's mapped address space (`VmSize`), if `/proc` tells.
fn vm_size() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmSize:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The stack budget is used up (carried inside the `io::Error`, for [`map_error`]).
#[derive(Debug)]
struct BudgetExhausted {
    limit: usize,
    source: BudgetSource,
}

impl std::fmt::Display for BudgetExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the stack budget of {} mapped stacks is used up",
            self.limit
        )
    }
}

impl std::error::Error for BudgetExhausted {}

/// The kernel's per-process mapping limit, if `/proc` tells.
fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Stacks allowed under `vm.max_map_count = max_maps`.
fn budget_for(max_maps: usize) -> usize {
    max_maps.saturating_sub((max_maps / 16).max(4096)) / 2
}

/// One slot of the stack budget, given back when the stack is unmapped.
#[derive(Debug)]
struct BudgetSlot;

impl BudgetSlot {
    /// A slot of the budget. `per_stack_mappings`: the stack costs kernel mappings of its
    /// own (the fallback), so the `vm.max_map_count` budget applies; arena slots cost
    /// none, and only a `GORO_MAX_STACKS` cap applies to them.
    fn take(per_stack_mappings: bool) -> io::Result<BudgetSlot> {
        // Relaxed: a counter, ordering nothing else; overshoot by concurrent spawners is
        // bounded by the number of threads and well inside the headroom.
        let (limit, source) = match stack_budget() {
            (_, BudgetSource::MapCount(_)) if !per_stack_mappings => {
                (usize::MAX, BudgetSource::Unlimited)
            }
            budget => budget,
        };
        if MAPPED.fetch_add(1, Ordering::Relaxed) >= limit {
            MAPPED.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                BudgetExhausted { limit, source },
            ));
        }
        Ok(BudgetSlot)
    }
}

impl Drop for BudgetSlot {
    fn drop(&mut self) {
        MAPPED.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct Stack {
    /// Lowest address of the stack (start of the guard page).
    limit: usize,
    /// Total length, guard included.
    len: usize,
    guard: usize,
    valgrind: std::mem::ManuallyDrop<ValgrindStackRegistration>,
    /// Where the memory comes from; dropped after it is given back (fields drop after
    /// `Drop::drop`).
    backing: Backing,
    /// Never run on since its pages were last given to the kernel: its first touch is a
    /// page fault (see [`take_cold`](Stack::take_cold)).
    cold: bool,
}

/// A slot of the stack arena (`region.rs`), or a mapping of its own (the fallback).
#[derive(Debug)]
enum Backing {
    Slot(#[allow(dead_code)] BudgetSlot),
    Mapping(#[allow(dead_code)] BudgetSlot),
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("limit", &self.limit)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: a `Stack` is plain ownership of a private mapping; nothing in it is tied to the
// thread that created it.
unsafe impl Send for Stack {}

impl Stack {
    /// A new stack with `size` usable bytes (rounded up to pages) above a guard page: a
    /// slot of the arena, or where guard regions are not available a mapping of its own.
    pub(crate) fn new(size: usize) -> io::Result<Stack> {
        let page = page_size();
        let size = size.checked_add(page - 1).ok_or_else(too_big)? & !(page - 1);
        let len = size.checked_add(page).ok_or_else(too_big)?;
        if region::guard_install_supported() {
            let budget = BudgetSlot::take(false)?;
            let (limit, warm) = region::alloc(len)?;
            let valgrind = ValgrindStackRegistration::new(limit as *mut u8, len);
            return Ok(Stack {
                limit,
                len,
                guard: page,
                valgrind: std::mem::ManuallyDrop::new(valgrind),
                backing: Backing::Slot(budget),
                cold: !warm,
            });
        }
        Stack::new_mapping(len)
    }

    /// The fallback: a mapping of its own, with an `mprotect`ed guard page (two kernel
    /// mappings), under the mapping budget.
    fn new_mapping(len: usize) -> io::Result<Stack> {
        let page = page_size();
        let budget = BudgetSlot::take(true)?;
        let mem = reserve(len)?;
        let limit = mem as usize;
        // SAFETY: `limit..limit+page` lies inside the mapping created just above.
        if unsafe { libc::mprotect(mem, page, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the mapping we created; nothing refers to it yet.
            unsafe { libc::munmap(mem, len) };
            return Err(err);
        }
        let valgrind = ValgrindStackRegistration::new(mem.cast(), len);
        Ok(Stack {
            limit,
            len,
            guard: page,
            valgrind: std::mem::ManuallyDrop::new(valgrind),
            backing: Backing::Mapping(budget),
            cold: true,
        })
    }

    /// True the first time it is asked of a stack whose pages are not resident (fresh from
    /// the kernel): whoever starts a coroutine on it will take a page fault. A spawn
    /// leaves that to the worker that first runs the green thread (`G::start`).
    pub(crate) fn take_cold(&mut self) -> bool {
        std::mem::take(&mut self.cold)
    }

    /// Highest address (initial stack pointer).
    pub(crate) fn top(&self) -> usize {
        self.limit + self.len
    }

    /// The guard page's range, for the overflow handler.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.limit, self.limit + self.guard)
    }

    /// Usable bytes (reservation without the guard).
    pub(crate) fn usable(&self) -> usize {
        self.len - self.guard
    }

    /// Releases the physical pages of a stack that grew deep, keeping the hot top pages.
    /// Returns true if it did.
    ///
    /// Executed only while no coroutine runs on this stack (its G is dead).
    pub(crate) fn shrink_if_deep(&mut self) -> bool {
        if self.usable() < WATERMARK_DEPTH + KEEP_BYTES || !self.watermark_dirty() {
            return false;
        }
        let start = self.limit + self.guard;
        let end = self.top() - KEEP_BYTES;
        // SAFETY: `start..end` is page-aligned and inside our read/write mapping; no live
        // frame uses it because no coroutine runs on this stack.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        true
    }

    /// Samples four cache lines spread over the page at `WATERMARK_DEPTH`: a call chain
    /// that went that deep wrote frames (return addresses, saved registers) there.
    fn watermark_dirty(&self) -> bool {
        let page = (self.top() - WATERMARK_DEPTH) as *const u64;
        // Below the dead green thread's last stack pointer memcheck sees no-access memory.
        valgrind::make_mem_defined(page.cast(), 4 * 128 * 8);
        // OR the 32 words together and test once: no branch per word.
        let bits = (0..4)
            .flat_map(|line| (0..8).map(move |w| line * 128 + w))
            .fold(0u64, |acc, i| {
                // SAFETY: the page lies inside the read/write part of the mapping (checked
                // by the caller via `usable()`); an untouched page reads as the zero page.
                acc | unsafe { ptr::read_volatile(page.add(i)) }
            });
        bits != 0
    }
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "goro: stack size overflows the address space",
    )
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the registration is dropped exactly once, here, before the memory goes.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.valgrind) };
        match self.backing {
            Backing::Slot(_) => region::free(self.limit, self.len),
            Backing::Mapping(_) => {
                // SAFETY: we own the whole mapping and no coroutine runs on it any more.
                let rc = unsafe { libc::munmap(self.limit as *mut libc::c_void, self.len) };
                debug_assert_eq!(rc, 0);
            }
        }
    }
}

// SAFETY: `base` and `limit` bound a mapping we own for our whole lifetime; the lowest
// page is PROT_NONE (the guard corosensei requires) and the usable part is at least
// MIN_STACK_SIZE (64 KiB ≥ corosensei's 4 KiB). Both addresses are page-aligned.
unsafe impl CoroStack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top()).expect("stack top is non-null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("stack limit is non-null")
    }
}

/// The error for a stack that could not be mapped: names the limit that was hit and the fix.
pub(crate) fn map_error(err: io::Error, size: usize, live: usize) -> io::Error {
    let budget = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<BudgetExhausted>());
    if let Some(&BudgetExhausted {
        limit,
        source: BudgetSource::Env,
    }) = budget
    {
        return io::Error::new(
            err.kind(),
            format!(
                "goro: cannot start a new green thread: GORO_MAX_STACKS={limit} caps the \
                 green threads alive at once, and {live} are live. Raise or unset \
                 GORO_MAX_STACKS."
            ),
        );
    }
    if let Some(&BudgetExhausted {
        limit,
        source: BudgetSource::MapCount(maps),
    }) = budget
    {
        return io::Error::new(
            err.kind(),
            format!(
                "goro: cannot start a new green thread: {live} are live, and the stack budget \
                 of {limit} is used up. Each green thread's stack is 2 kernel memory mappings, \
                 the kernel allows vm.max_map_count = {maps} per process, and goro keeps a \
                 sixteenth of them for the rest of the process: raise the limit with \
                 `sysctl -w vm.max_map_count=2097152` to run ~1M green threads, or set \
                 GORO_MAX_STACKS to choose the cap yourself."
            ),
        );
    }
    if let Some(a) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<AddressSpaceExhausted>())
    {
        return io::Error::new(
            err.kind(),
            format!(
                "goro: cannot start a new green thread: the address space is nearly used up \
                 under RLIMIT_AS ({a}; {live} green threads are live, each reserving \
                 {size} bytes). Raise the limit (`ulimit -v`), or reserve less per green \
                 thread (Builder::stack_size)."
            ),
        );
    }
    let max_maps = max_map_count().map_or_else(|| "unknown".into(), |n| n.to_string());
    io::Error::new(
        err.kind(),
        format!(
            "goro: cannot map a {size}-byte stack for a new green thread: {err} \
             ({live} green threads are live). Each green thread's stack is 2 kernel memory \
             mappings and the kernel allows vm.max_map_count = {max_maps} per process: raise it \
             with `sysctl -w vm.max_map_count=2097152` to run ~1M green threads. The address \
             space may also be capped by RLIMIT_AS (`ulimit -v`), or memory is exhausted; a \
             smaller reservation (Builder::stack_size) helps there."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_headroom_for_the_rest_of_the_process() {
        assert_eq!(budget_for(65_530), (65_530 - 4096) / 2); // Linux's default
        assert_eq!(budget_for(2_097_152), (2_097_152 - 131_072) / 2); // ~1M stacks
        assert_eq!(budget_for(1000), 0);
    }

    fn rss_of(stack: &Stack) -> usize {
        // Count resident pages with mincore (test-only syscall).
        let page = page_size();
        let start = stack.limit + stack.guard;
        let n = stack.usable() / page;
        let mut vec = vec![0u8; n];
        // SAFETY: `start..start+n*page` is our mapping; `vec` has one byte per page.
        let rc = unsafe { libc::mincore(start as *mut libc::c_void, n * page, vec.as_mut_ptr()) };
        assert_eq!(rc, 0);
        vec.iter().filter(|b| **b & 1 == 1).count()
    }

    #[test]
    fn stack_is_lazy_and_shrinks() {
        // A size no other test uses, so the arena hands out a fresh slot, not a freed one.
        let size = DEFAULT_STACK_SIZE + 3 * page_size();
        let mut s = Stack::new(size).unwrap();
        assert_eq!(s.usable(), size);
        assert_eq!(rss_of(&s), 0, "nothing committed before touch");
        // Touch 100 KiB below the top, as a deep call chain would.
        let top = s.top();
        // SAFETY: inside the usable part of the mapping.
        unsafe { ptr::write_bytes((top - 100 * 1024) as *mut u8, 0xA5, 100 * 1024) };
        assert!(rss_of(&s) >= 24);
        assert!(s.shrink_if_deep());
        assert!(rss_of(&s) <= KEEP_BYTES / page_size());
        assert!(!s.shrink_if_deep(), "a freed stack reads clean");
    }

    #[test]
    fn shallow_stack_is_not_shrunk() {
        let mut s = Stack::new(DEFAULT_STACK_SIZE).unwrap();
        // SAFETY: inside the usable part.
        unsafe { ptr::write_volatile((s.top() - 64) as *mut u64, 7) };
        assert!(!s.shrink_if_deep());
    }

    /// Arena slots cost no kernel mapping each, and freed slots' pages go back to the
    /// kernel in batches (`region.rs`).
    #[test]
    fn arena_stacks_share_mappings_and_release_freed_memory() {
        if !region::guard_install_supported() {
            return; // the fallback maps each stack: covered by the limit tests
        }
        let maps = || {
            std::fs::read_to_string("/proc/self/maps")
                .unwrap()
                .lines()
                .count()
        };
        let size = MIN_STACK_SIZE + 5 * page_size(); // a class of its own
        let before = maps();
        let stacks: Vec<Stack> = (0..5000).map(|_| Stack::new(size).unwrap()).collect();
        // Other tests map and unmap meanwhile: allow them some slack.
        assert!(
            maps() < before + 100,
            "{} mappings for 5000 stacks",
            maps() - before
        );
        for s in &stacks {
            // SAFETY: inside the usable part of the slot.
            unsafe { ptr::write_bytes((s.top() - 4 * page_size()) as *mut u8, 1, 4 * page_size()) };
        }
        let slots: Vec<(usize, usize)> = stacks.iter().map(|s| (s.limit, s.len)).collect();
        drop(stacks);
        // What sysmon does every tick: release a batch while more than a batch is dirty.
        while region::release_some() {}
        // The oldest freed slots were released: nothing resident in them any more.
        let page = page_size();
        let released = slots
            .iter()
            .filter(|(limit, len)| {
                let n = len / page;
                let mut vec = vec![0u8; n];
                // SAFETY: the slot is inside a region that stays mapped (invariant 3).
                let rc = unsafe {
                    libc::mincore(*limit as *mut libc::c_void, n * page, vec.as_mut_ptr())
                };
                rc == 0 && vec.iter().all(|b| b & 1 == 0)
            })
            .count();
        assert!(
            released >= 2048,
            "only {released} of 5000 freed slots were released"
        );
    }

    #[test]
    fn guard_page_is_not_accessible() {
        let s = Stack::new(MIN_STACK_SIZE).unwrap();
        let (lo, hi) = s.guard_range();
        assert_eq!(hi - lo, page_size());
        let mut vec = [0u8; 1];
        // SAFETY: mincore only inspects the mapping.
        let rc = unsafe { libc::mincore(lo as *mut libc::c_void, page_size(), vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "the guard is part of our mapping");
    }
}
