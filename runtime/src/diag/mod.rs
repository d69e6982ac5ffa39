//! Diagnostics, read without stopping the runtime: `dump()` (Go's goroutine dump on
//! SIGQUIT), `Metrics` (counters), `LeakCheck` (goleak). A service on the scheduler core:
//! it reads the core's state and nothing in the core reads it.

pub(crate) mod dump;
pub(crate) mod latency;
pub(crate) mod leakcheck;
pub(crate) mod metrics;
#[cfg(not(loom))]
pub(crate) mod sigquit;
#[cfg(all(feature = "stack-traces", target_arch = "x86_64", not(loom)))]
pub(crate) mod stack_trace;
pub mod trace;
