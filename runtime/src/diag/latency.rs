//! Scheduling-delay and run-time histograms per processor (Go's `/sched/latencies:seconds`,
//! tokio's poll-time histogram), sampled as Go samples them.
//!
//! # What is measured
//! * **Scheduling delay**: from the moment a green thread became runnable (woken, spawned,
//!   yielded, handed off) to the moment a worker resumed it.
//! * **Run time** (tokio's "poll time"): from that resume to the green thread's next
//!   switch out (park, yield, return).
//!
//! # Why sampled, and how
//! Reading the clock at every transition would cost two counter reads per switch on the
//! hottest path of the scheduler. Go tracks one goroutine transition in eight
//! (`gTrackingPeriod` and `g.trackingSeq` in runtime2.go); goro does the same one in
//! sixteen: the party that makes a green thread runnable counts on the G's own byte-sized
//! counter, and on every sixteenth transition of that G it stamps it (the `TRACKED` bit in its diagnostics
//! word, the stamp in the word that holds a wait's detail while the G is parked: a
//! runnable G has no wait detail). The worker that resumes a G reads that word anyway;
//! only a stamped G costs it two counter reads. An untracked switch costs a byte
//! increment and a test. The count is per G, not per thread, so two green threads that
//! only wake each other are sampled too.
//!
//! # Clock
//! The stamps are the CPU's time-stamp counter (`rdtsc` on x86_64: invariant on every CPU
//! since 2008, ~20 cycles, no system call), else a monotonic clock's nanoseconds. Buckets
//! are kept in ticks; [`LatencyHistogram`] converts them to durations when `metrics()` is
//! read, with the tick rate measured between the runtime's start and that read (the same
//! method as the execution trace, `trace.rs`), so no calibration delay is ever paid.
//!
//! # Buckets
//! Four per power of two (at most 25 % relative error, HdrHistogram's layout with two
//! bits of sub-bucket precision), from one tick up to 2^40 ticks (minutes); larger values
//! land in the last bucket. Each processor's histograms are written only by the worker
//! that owns the processor (a relaxed load and store per sample, no read-modify-write)
//! and read by `metrics()` at any time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One transition in this many is timed (Go's `gTrackingPeriod`).
///
/// Sixteen, not Go's eight: a timed switch costs two counter reads (~10 ns each on the
/// 2-core development VM, 2026-12-07) plus the bucket updates, which at one in eight
/// was +7 % on the yield workload's 36 ns switch; one in sixteen halves that, and a busy
/// runtime still fills its histograms within milliseconds.
pub(crate) const SAMPLE_PERIOD: u32 = 16;

/// Sub-buckets per power of two: `1 << SUB_BITS`.
const SUB_BITS: u32 = 2;
const SUBS: usize = 1 << SUB_BITS;
/// The largest exponent with its own buckets (2^40 ticks: several minutes at any clock).
const MAX_EXP: u32 = 40;
/// Buckets: the exact small values below `SUBS`, then `SUBS` per power of two.
pub(crate) const BUCKETS: usize = SUBS + SUBS * (MAX_EXP as usize - SUB_BITS as usize + 1);

/// The CPU's time-stamp counter (x86_64), else nanoseconds since the first call.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc reads a counter; no memory, no preconditions.
    return unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// The bucket a value (in ticks) falls in.
#[inline]
fn bucket(v: u64) -> usize {
    if v < SUBS as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // floor(log2 v) >= SUB_BITS
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (v >> (exp - SUB_BITS)) as usize & (SUBS - 1);
    SUBS + SUBS * (exp - SUB_BITS) as usize + sub
}

/// The lowest value (ticks) of bucket `i`; bucket `i` holds `[low(i), low(i + 1))`.
fn low(i: usize) -> u64 {
    if i < SUBS {
        return i as u64;
    }
    let exp = (i - SUBS) / SUBS + SUB_BITS as usize;
    let sub = ((i - SUBS) % SUBS) as u64;
    (SUBS as u64 + sub) << (exp - SUB_BITS as usize)
}

/// A histogram one thread writes and any thread reads (see the module docs).
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: Box<[AtomicU64; BUCKETS]>,
    /// The sum of the recorded values, in ticks (for the mean).
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records `v` ticks. Only the owning processor's worker calls this.
    #[inline]
    pub(crate) fn record(&self, v: u64) {
        let c = &self.counts[bucket(v)];
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.sum.store(
            self.sum.load(Ordering::Relaxed).wrapping_add(v),
            Ordering::Relaxed,
        );
    }

    /// A snapshot in durations, converting ticks with `ns_per_tick`.
    pub(crate) fn read(&self, ns_per_tick: f64) -> LatencyHistogram {
        let mut buckets = Vec::new();
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let to = |t: u64| Duration::from_nanos((t as f64 * ns_per_tick) as u64);
            let high = if i + 1 < BUCKETS {
                low(i + 1)
            } else {
                u64::MAX / 2
            };
            buckets.push(Bucket {
                low: to(low(i)),
                high: to(high),
                count: n,
            });
        }
        LatencyHistogram {
            buckets,
            sum: Duration::from_nanos(
                (self.sum.load(Ordering::Relaxed) as f64 * ns_per_tick) as u64,
            ),
        }
    }
}

/// Converts the tick counter to time: origin of a runtime's measurements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClockOrigin {
    at: Instant,
    ticks: u64,
}

impl ClockOrigin {
    pub(crate) fn now() -> ClockOrigin {
        ClockOrigin {
            at: Instant::now(),
            ticks: ticks(),
        }
    }

    /// Nanoseconds per tick, measured between the origin and now.
    pub(crate) fn ns_per_tick(&self) -> f64 {
        let ns = self.at.elapsed().as_nanos() as f64;
        let t = ticks().wrapping_sub(self.ticks);
        if t == 0 || ns == 0.0 {
            1.0
        } else {
            ns / t as f64
        }
    }

    /// Time since the origin.
    pub(crate) fn elapsed(&self) -> Duration {
        self.at.elapsed()
    }
}

/// One bucket of a [`LatencyHistogram`]: `count` values in `[low, high)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bucket {
    /// Lowest value in the bucket.
    pub low: Duration,
    /// Just above the highest value in the bucket.
    pub high: Duration,
    /// Samples that fell in it.
    pub count: u64,
}

/// A distribution of durations (scheduling delays, run times) as [`Metrics`] reports it:
/// the non-empty buckets in increasing order, four per power of two (at most 25 %
/// relative error). Values are samples: one transition in sixteen of each green thread is timed,
/// as in Go's `/sched/latencies:seconds`.
///
/// ```
/// let rt = goro_runtime::Runtime::builder().workers(1).build()?;
/// rt.block_on(|| {
///     for _ in 0..1000 {
///         goro_runtime::yield_now();
///     }
/// });
/// let m = rt.metrics();
/// assert!(m.scheduling_latency.count() >= 50);    // one yield in sixteen
/// let p99 = m.scheduling_latency.quantile(0.99).unwrap();
/// assert!(p99 < std::time::Duration::from_secs(10));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// [`Metrics`]: crate::Metrics
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    buckets: Vec<Bucket>,
    sum: Duration,
}

impl LatencyHistogram {
    /// The non-empty buckets, lowest first.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.count).sum()
    }

    /// The mean sample (`None` if empty).
    pub fn mean(&self) -> Option<Duration> {
        let n = self.count();
        (n > 0).then(|| self.sum / u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The value below which a fraction `q` (0.0–1.0) of the samples fall, interpolated
    /// within its bucket (`None` if empty).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).max(1.0);
        let mut seen = 0u64;
        for b in &self.buckets {
            if (seen + b.count) as f64 >= rank {
                let within = (rank - seen as f64) / b.count as f64;
                return Some(b.low + (b.high - b.low).mul_f64(within));
            }
            seen += b.count;
        }
        self.buckets.last().map(|b| b.high)
    }

    /// Adds `other`'s samples (the runtime-wide histogram is the processors' merged).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for b in &other.buckets {
            match self.buckets.iter_mut().find(|m| m.low == b.low) {
                Some(m) => m.count += b.count,
                None => self.buckets.push(*b),
            }
        }
        self.buckets.sort_by_key(|b| b.low);
        self.sum += other.sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_line() {
        assert_eq!(low(0), 0);
        for i in 0..BUCKETS - 1 {
            assert!(low(i) < low(i + 1), "bucket {i}");
            assert_eq!(bucket(low(i)), i, "low end of {i}");
            assert_eq!(bucket(low(i + 1) - 1), i, "high end of {i}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_is_bounded() {
        for i in SUBS..BUCKETS - 1 {
            let width = (low(i + 1) - low(i)) as f64;
            assert!(width / low(i) as f64 <= 0.25 + 1e-9, "bucket {i}");
        }
    }

    #[test]
    fn quantiles_follow_the_samples() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.read(1.0);
        assert_eq!(s.count(), 1000);
        let p50 = s.quantile(0.5).unwrap().as_nanos() as f64;
        assert!((400_000.0..=600_000.0).contains(&p50), "p50 {p50}");
        let p99 = s.quantile(0.99).unwrap().as_nanos() as f64;
        assert!((850_000.0..=1_200_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(s.mean(), Some(Duration::from_nanos(500_500)));
        let mut merged = s.clone();
        merged.merge(&s);
        assert_eq!(merged.count(), 2000);
        assert_eq!(merged.quantile(0.5), s.quantile(0.5));
    }
}
