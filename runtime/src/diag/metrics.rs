//! `Metrics`: a runtime's counters, read without stopping anything.
//!
//! Every counter already exists for the scheduler's own use or is written only by the
//! worker that owns it (no shared read-modify-write on the hot path): reading them is a
//! handful of relaxed loads, cheap enough to export every second. Counters read at
//! slightly different instants, so sums may be off by the events of that instant.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::latency::LatencyHistogram;

use crate::scheduler::Sched;

/// A snapshot of one runtime's counters ([`Runtime::metrics`](crate::Runtime::metrics),
/// [`metrics`] from inside a runtime).
///
/// ```
/// let rt = goro_runtime::Runtime::builder().workers(2).build()?;
/// rt.block_on(|| {
///     let hs: Vec<_> = (0..100).map(|_| goro_runtime::go(goro_runtime::yield_now)).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
/// });
/// let m = rt.metrics();
/// assert_eq!(m.spawned, 101);               // 100 + the block_on green thread
/// assert_eq!(m.num_goroutines, 0);
/// assert!(m.resumes >= 201);                // each yielded once
/// assert_eq!(m.per_processor.len(), 2);
/// assert_eq!(m.per_processor.iter().map(|p| p.resumes).sum::<u64>(), m.resumes);
/// assert!(m.busy > std::time::Duration::ZERO);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Processors (Go's GOMAXPROCS; `Builder::workers`).
    pub processors: usize,
    /// Processors whose worker thread sleeps right now (Go's `npidle`).
    pub processors_idle: usize,
    /// Processors whose worker thread searches other queues for work right now (Go's
    /// spinning Ms).
    pub processors_searching: usize,
    /// Green threads alive (started, not finished): what
    /// [`num_goroutines`](crate::num_goroutines) returns inside the runtime.
    pub num_goroutines: usize,
    /// Green threads started since the runtime began.
    pub spawned: u64,
    /// Times a green thread was resumed (Go's `schedtick`).
    pub resumes: u64,
    /// Parks committed (a green thread went to sleep on something).
    pub parks: u64,
    /// Successful steals from another processor's queue.
    pub steals: u64,
    /// Green threads waiting in the global queue right now.
    pub global_queue_depth: usize,
    /// Green threads waiting in processors' local queues right now.
    pub local_queue_depth: usize,
    /// Socket waiters the netpoller has woken.
    pub netpoll_wakeups: u64,
    /// Times the netpoller was polled.
    pub netpoll_polls: u64,
    /// Finished green threads kept with their stacks for the next spawns (Go's `gFree`).
    pub pooled_green_threads: usize,
    /// Finished green threads past the pool's bound, waiting for sysmon to free them (a
    /// batch per tick, as Go frees dead goroutines' stacks at the next GC).
    pub retired_green_threads: usize,
    /// `blocking` calls running right now (process-wide).
    pub blocking_in_progress: usize,
    /// Worker threads alive: those owning a processor, spares waiting for one, and those
    /// still inside a blocked green thread after their processor was handed off.
    pub worker_threads: usize,
    /// Spare worker threads waiting for a processor right now.
    pub spare_threads: usize,
    /// Processors handed from a worker thread stuck in one green thread to another.
    pub handoffs: u64,
    /// Of `handoffs`, those a worker made itself before resuming a green thread, in a
    /// chain that sysmon started: a run of green threads that each block their thread in
    /// a call is handed off at the pace of thread wake-ups (docs ch.2).
    pub chained_handoffs: u64,
    /// Netpoller polls made by the workers (also counted in `netpoll_polls`, which
    /// includes polls from elsewhere).
    pub worker_netpolls: u64,
    /// Time the processors spent not asleep (running green threads, polling, searching),
    /// summed over processors.
    pub busy: Duration,
    /// How long green threads waited in run queues: from becoming runnable (woken,
    /// spawned, yielded) to being resumed, sampled (Go's `/sched/latencies:seconds`).
    pub scheduling_latency: LatencyHistogram,
    /// How long a green thread ran once resumed, until it parked, yielded or returned
    /// (tokio's poll-time histogram), sampled: a long tail here is a green thread that
    /// hogs its processor.
    pub run_time: LatencyHistogram,
    /// Parked green threads whose stacks are compacted right now
    /// ([`Builder::compact_parked_stacks`](crate::Builder::compact_parked_stacks);
    /// process-wide).
    pub compacted_stacks: usize,
    /// Bytes the compacted stacks' saved copies take (process-wide); each copy replaced
    /// at least one 4 KiB page.
    pub compacted_stack_bytes: usize,
    /// The same counters per processor (the totals above are their sums): where the work
    /// ran, which processor's queue backs up, which one steals. tokio#4073 has asked for
    /// per-worker figures since 2021.
    pub per_processor: Vec<ProcessorMetrics>,
}

/// One processor's counters, in [`Metrics::per_processor`] (index = processor number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorMetrics {
    /// Green threads resumed on this processor (Go's `p.schedtick`).
    pub resumes: u64,
    /// Parks committed here.
    pub parks: u64,
    /// Successful steals by this processor from another's queue.
    pub steals: u64,
    /// Green threads started by code running on this processor.
    pub spawned: u64,
    /// Green threads that finished here.
    pub finished: u64,
    /// Green threads waiting in this processor's local queue right now.
    pub local_queue_depth: usize,
    /// Its worker thread sleeps right now.
    pub idle: bool,
    /// The OS thread id (`gettid`) of the worker that owns it now, or 0 before its first
    /// run (changes when the processor is handed off).
    pub thread_id: i32,
    /// Netpoller polls made by its workers.
    pub netpolls: u64,
    /// Time since the runtime started during which its worker was not asleep.
    pub busy: Duration,
    /// Scheduling delay of the green threads resumed here (see [`Metrics`]).
    pub scheduling_latency: LatencyHistogram,
    /// Run time of the green threads resumed here (see [`Metrics`]).
    pub run_time: LatencyHistogram,
}

pub(crate) fn read(sched: &Sched) -> Metrics {
    let sum = |f: fn(&crate::scheduler::Remote) -> u64| -> u64 {
        sched.remotes.iter().map(|r| f(r)).sum()
    };
    let (searching, idle) = sched.idle.counts();
    #[cfg(not(loom))]
    let (compacted_stacks, compacted_stack_bytes) = crate::stacks::compact::saved_totals();
    #[cfg(loom)]
    let (compacted_stacks, compacted_stack_bytes) = (0, 0);
    let ns_per_tick = sched.clock_origin.ns_per_tick();
    let age = sched.clock_origin.elapsed();
    let per_processor: Vec<ProcessorMetrics> = sched
        .remotes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let idle_ns = r.idle_ticks.load(Ordering::Relaxed) as f64 * ns_per_tick;
            ProcessorMetrics {
                resumes: r.ticks.load(Ordering::Relaxed),
                parks: r.parks.load(Ordering::Relaxed),
                steals: r.steals.load(Ordering::Relaxed),
                spawned: r.started.load(Ordering::Relaxed),
                finished: r.finished.load(Ordering::Relaxed),
                local_queue_depth: r.stealer.len(),
                idle: sched.idle.is_sleeping(i),
                thread_id: r.tid.load(Ordering::Relaxed),
                netpolls: r.netpolls.load(Ordering::Relaxed),
                busy: age.saturating_sub(Duration::from_nanos(idle_ns as u64)),
                scheduling_latency: r.scheduling_latency.read(ns_per_tick),
                run_time: r.run_time.read(ns_per_tick),
            }
        })
        .collect();
    let merged = |f: fn(&ProcessorMetrics) -> &LatencyHistogram| {
        per_processor
            .iter()
            .fold(LatencyHistogram::default(), |mut m, p| {
                m.merge(f(p));
                m
            })
    };
    Metrics {
        processors: sched.num_processors(),
        processors_idle: idle,
        processors_searching: searching,
        num_goroutines: sched.live(),
        spawned: sched.started(),
        resumes: sum(|r| r.ticks.load(Ordering::Relaxed)),
        parks: sum(|r| r.parks.load(Ordering::Relaxed)),
        steals: sum(|r| r.steals.load(Ordering::Relaxed)),
        global_queue_depth: sched.injector.len(),
        local_queue_depth: sched.remotes.iter().map(|r| r.stealer.len()).sum(),
        netpoll_wakeups: sched.driver.poller.notified(),
        netpoll_polls: sched.driver.poller.polls(),
        pooled_green_threads: sched.gpool.pooled(),
        retired_green_threads: sched.gpool.retired(),
        blocking_in_progress: crate::blocking::in_progress(),
        compacted_stacks,
        compacted_stack_bytes,
        worker_threads: sched.spares.threads(),
        spare_threads: sched.spares.idle_count(),
        handoffs: sched.handoffs.load(Ordering::Relaxed),
        chained_handoffs: sched.chained_handoffs.load(Ordering::Relaxed),
        worker_netpolls: per_processor.iter().map(|p| p.netpolls).sum(),
        busy: per_processor.iter().map(|p| p.busy).sum(),
        scheduling_latency: merged(|p| &p.scheduling_latency),
        run_time: merged(|p| &p.run_time),
        per_processor,
    }
}

/// The counters of the runtime the caller runs in (`None` outside a runtime).
pub fn metrics() -> Option<Metrics> {
    crate::scheduler::context::current_sched().map(|s| read(&s))
}
