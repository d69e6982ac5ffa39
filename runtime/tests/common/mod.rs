//! Helpers shared by goro-runtime's integration tests: building a runtime, and re-running
//! this test binary as a child process (for process-wide limits such as `RLIMIT_NOFILE` or
//! `RLIMIT_AS`, or for paths that end the process).

// Not every test file uses every helper.
#![allow(dead_code, unused_imports)]

#[path = "../../../tests/common/child.rs"]
mod child;
pub(crate) use child::*;

/// A runtime with `workers` processors (the same helper in every crate's tests).
pub(crate) fn rt(workers: usize) -> goro_runtime::Runtime {
    goro_runtime::Runtime::builder()
        .workers(workers)
        .build()
        .unwrap()
}
