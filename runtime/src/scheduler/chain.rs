//! Handoff chains: a run of green threads that each block their thread in a call is handed
//! off at the pace of thread wake-ups, not of sysmon's rounds.
//!
//! sysmon takes a processor from a worker blocked in the kernel (`handoff.rs`) when it
//! sees it, and its rounds are 50 µs apart at best, ~150 µs on a busy machine of two
//! cores. When the green threads queued behind the blocked one block too — 10 000 green
//! threads each making a request with `std::net`, a thousand receivers in
//! `std::sync::mpsc` — every one of them waits for the next round, one per processor per
//! round, and the calls start at sysmon's pace: 10 000 of them took 2× as long as the same
//! calls inside `goro::blocking`, which hands the processor off before the call and waits
//! for nobody (2026-12-08).
//!
//! So a handoff that sysmon makes because the owner is blocked with green threads queued
//! behind it starts a *chain* on that processor (`Remote::chain`): its next owner, before
//! it resumes a green thread, hands the processor to a spare itself — what
//! `goro::blocking` does before its call — and runs the green thread without it. If that
//! green thread blocks, the spare is already running the next one, which does the same.
//! Go has no chains: its calls that may block for long go through the netpoller, and its
//! `entersyscall` makes sysmon's check a load; goro's sysmon reads `/proc` and issues a
//! `membarrier` per round.
//!
//! A link is wasted on a green thread that does not block (it parks on a goro channel,
//! sleeps on a timer, finishes): two thread wake-ups for nothing, and the processor idles
//! while the spare wakes. Two things bound that waste:
//! * **Credit.** A chain starts with a credit of 32. A green thread that comes back from
//!   a link without having slept in the kernel for `CHAIN_BLOCKED` costs 8, one run in
//!   place (below) costs 1, and one that blocked adds 16 back (up to 32: its credit
//!   arrives when its call returns). At zero the chain ends, and only sysmon starts
//!   another. A run of green threads that do not block costs at most four wasted links.
//! * **Quick spawn sites.** The `go` call that spawned a green thread that came back
//!   quickly is remembered (`QuickSites`); a chain runs the next green threads from that
//!   site on its processor, spending credit but no handoff. 1 000 receivers blocked in
//!   `std::sync::mpsc` with their 1 000 senders (which `goro::sleep`) queued between
//!   them took 150–160 ms when every sender cost a link, 106–110 ms with the sites
//!   remembered but a skip costing as much as a waste, 68–84 ms with skips cheap, and
//!   87–96 ms before chains (medians of five, two workers, 2026-12-08). A green thread
//!   from a quick site that blocks after all is seen by sysmon, which takes the site out
//!   again.
//!
//! The chain also ends when nothing waits behind the green thread about to run, and at
//! the thread budget. What bounds the threads: the budget (`Builder::max_threads`), as for
//! every handoff, and the calls themselves — a thread is a spare again when its call
//! returns, and spares idle for 10 s exit.
//!
//! # Invariants
//! 1. A link hands off only from the scheduler loop, with the worker outside any green
//!    thread (`in_g` false) and owning the processor: the owner's own `Ownership::give`,
//!    as `goro::blocking`'s, which waits out a sysmon that is deciding. Whoever wins, one
//!    thread owns the processor (loom: `loom_owner_gives_while_sysmon_revokes` in
//!    `handoff.rs`).
//! 2. `Remote::chain` and `QuickSites` are hints: written by any thread with plain loads
//!    and stores; a lost update costs a handoff too many or too few, never correctness.

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::processor::Processor;
use super::worker::{idle_or_new_spare, WorkerCtx};
use super::Sched;
use crate::g::GRef;

/// A green thread run by a link that comes back sooner than this, or without having slept
/// in the kernel, did not block its thread: it spends a credit (Go treats a system call as
/// blocking after 20 µs).
const CHAIN_BLOCKED: Duration = Duration::from_micros(20);

/// A chain's credit when sysmon starts it, and at most.
const CREDIT: u32 = 32;
/// What a link wasted on a green thread that did not block costs (two wake-ups for
/// nothing, and the processor idle while the spare wakes): at most four in a row.
const WASTED: u32 = 8;
/// What a green thread of a quick site costs, run in place (nothing wasted, but a chain
/// that only skips must still end: at most 32 in a row).
const SKIPPED: u32 = 1;
/// Credit a green thread that blocked in a link adds back.
const BLOCKED_ADDS: u32 = 16;

/// How a green thread a chain came to went.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Run by a link, it slept in the kernel: the link paid off.
    Blocked,
    /// Run by a link, it came back without blocking.
    Wasted,
    /// Spawned at a quick site: run in place, no link.
    Skipped,
}

/// sysmon took a processor from a worker blocked with green threads queued behind it: its
/// next owners chain (`credit` is its `Remote::chain`).
pub(crate) fn start(credit: &AtomicU32) {
    credit.store(CREDIT, Ordering::Relaxed);
}

/// Books `outcome` on a chain's credit. A racy read-modify-write: the credit is a hint
/// (invariant 2).
fn settle(credit: &AtomicU32, outcome: Outcome) {
    let left = credit.load(Ordering::Relaxed);
    let left = match outcome {
        Outcome::Blocked => (left + BLOCKED_ADDS).min(CREDIT),
        Outcome::Wasted => left.saturating_sub(WASTED),
        Outcome::Skipped => left.saturating_sub(SKIPPED),
    };
    credit.store(left, Ordering::Relaxed);
}

/// One link of a chain: the processor handed on, when, and the thread's count of
/// voluntary context switches then (a sleep in the kernel adds one).
#[derive(Debug)]
pub(super) struct Link {
    index: usize,
    site: *const Location<'static>,
    at: Instant,
    slept: i64,
}

impl Link {
    /// The green thread this link ran switched out: a chain whose green thread did not
    /// block ends here.
    pub(super) fn end(self, sched: &Sched) {
        let blocked = voluntary_switches() > self.slept && self.at.elapsed() >= CHAIN_BLOCKED;
        let outcome = if blocked {
            Outcome::Blocked
        } else {
            sched.quick_sites.insert(self.site);
            Outcome::Wasted
        };
        settle(&sched.remotes[self.index].chain, outcome);
    }
}

impl WorkerCtx {
    /// A chain runs on `p` (`Remote::chain`): hands `p` to a spare before `g` runs, if
    /// green threads wait behind `g` and `g`'s spawn site is not known to come back
    /// without blocking; ends the chain if nothing waits. `Some`: this worker no longer
    /// owns `p` and runs `g` without it.
    #[cold]
    pub(super) fn chain_hand_off(&self, p: &Processor, g: &GRef) -> Option<Link> {
        let sched = &self.sched;
        let remote = &sched.remotes[p.index];
        let site = site_of(g);
        if sched.quick_sites.contains(site) {
            settle(&remote.chain, Outcome::Skipped);
            return None;
        }
        let waiting = p.queued() > 0 || !remote.runnext.is_empty() || !sched.injector.is_empty();
        let spare = if waiting && !self.is_locked(g) {
            idle_or_new_spare(sched).ok()
        } else {
            None
        };
        let Some(spare) = spare else {
            remote.chain.store(0, Ordering::Relaxed);
            return None;
        };
        let link = Link {
            index: p.index,
            site,
            at: Instant::now(),
            slept: voluntary_switches(),
        };
        sched.chained_handoffs.fetch_add(1, Ordering::Relaxed);
        self.give_processor(p.index, &spare); // invariant 1
        Some(link)
    }
}

/// Where `g` was spawned (the `go` call), as the key of [`QuickSites`].
fn site_of(g: &GRef) -> *const Location<'static> {
    g.spawn_site()
        .map_or(std::ptr::null(), |l| l as *const Location<'static>)
}

/// Slots of [`QuickSites`].
const QUICK_SITES: usize = 64;

/// Spawn sites whose green threads came back from a link without blocking (a green thread
/// that parks on a goro channel, a timer): a chain runs them on its processor instead of
/// handing it on first. A green thread of such a site that blocks after all — sysmon
/// takes its processor — takes its site out again. Direct-mapped by address, so a
/// collision only forgets a site; a hint (invariant 2).
#[derive(Debug)]
pub(crate) struct QuickSites([AtomicPtr<Location<'static>>; QUICK_SITES]);

impl QuickSites {
    pub(crate) fn new() -> QuickSites {
        QuickSites(std::array::from_fn(
            |_| AtomicPtr::new(std::ptr::null_mut()),
        ))
    }

    fn slot(&self, site: *const Location<'static>) -> &AtomicPtr<Location<'static>> {
        // Fibonacci hashing of the address (`Location`s are 8-aligned statics).
        let h = (site as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
        &self.0[h as usize % QUICK_SITES]
    }

    fn contains(&self, site: *const Location<'static>) -> bool {
        !site.is_null() && self.slot(site).load(Ordering::Relaxed).cast_const() == site
    }

    fn insert(&self, site: *const Location<'static>) {
        if !site.is_null() {
            self.slot(site).store(site.cast_mut(), Ordering::Relaxed);
        }
    }

    /// A green thread spawned at `g`'s site blocked its thread: the site is not quick.
    pub(crate) fn forget(&self, g: &GRef) {
        self.remove(site_of(g));
    }

    fn remove(&self, site: *const Location<'static>) {
        if !site.is_null() {
            let slot = self.slot(site);
            let _ = slot.compare_exchange(
                site.cast_mut(),
                std::ptr::null_mut(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

/// This thread's voluntary context switches so far (`getrusage(RUSAGE_THREAD)`, Linux
/// 2.6.26): a thread that slept in the kernel, not one that was preempted or yielded.
fn voluntary_switches() -> i64 {
    // SAFETY: all-zero is a valid `rusage` (integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD fills in this thread's.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_nvcsw as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_ends_after_its_credit_of_green_threads_that_do_not_block() {
        let credit = AtomicU32::new(0);
        let left = || credit.load(Ordering::Relaxed);
        start(&credit);
        settle(&credit, Outcome::Blocked); // capped
        assert_eq!(left(), CREDIT);
        let mut wasted = 0;
        while left() > 0 {
            settle(&credit, Outcome::Wasted);
            wasted += 1;
        }
        assert_eq!(wasted, 4, "four wasted links end a chain");
        settle(&credit, Outcome::Wasted);
        assert_eq!(left(), 0, "no credit below zero");
        settle(&credit, Outcome::Blocked);
        settle(&credit, Outcome::Skipped);
        assert_eq!(left(), BLOCKED_ADDS - 1);
        start(&credit);
        let skipped = (0..).take_while(|_| {
            settle(&credit, Outcome::Skipped);
            left() > 0
        });
        assert_eq!(skipped.count() + 1, 32, "32 skips end a chain");
    }

    #[test]
    fn quick_sites_remember_a_site_until_one_of_its_green_threads_blocks() {
        #[track_caller]
        fn here() -> *const Location<'static> {
            Location::caller()
        }
        let sites = QuickSites::new();
        let (a, b) = (here(), here());
        assert!(!sites.contains(a) && !sites.contains(std::ptr::null()));
        sites.insert(a);
        sites.insert(std::ptr::null()); // a G without a site is never quick
        assert!(sites.contains(a) && !sites.contains(b));
        assert!(!sites.contains(std::ptr::null()));
        sites.remove(a);
        assert!(!sites.contains(a));
    }

    #[test]
    fn a_sleep_in_the_kernel_counts_as_a_voluntary_switch_and_a_spin_does_not() {
        let before = voluntary_switches();
        std::thread::sleep(Duration::from_millis(2));
        assert!(voluntary_switches() > before);
        let before = voluntary_switches();
        let until = Instant::now() + Duration::from_micros(200);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        // A spin may be preempted (involuntary), never a voluntary switch... except for a
        // page fault that sleeps, which this loop does not make.
        assert_eq!(voluntary_switches(), before);
    }
}
