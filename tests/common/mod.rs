//! Helpers shared by the facade's integration tests: the built examples, and re-running
//! this test binary as a child process (for paths that end the process).

// Not every test file uses every helper.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

mod child;
pub(crate) use child::*;

/// The path of example `name`, built by `cargo test` beside the test binaries.
pub(crate) fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<test>-xxxx → target/<profile>/examples/<name>
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    p.pop();
    p.push("examples");
    p.push(name);
    assert!(
        p.exists(),
        "{} not built (cargo test builds examples)",
        p.display()
    );
    p
}

/// A runtime with `workers` processors (the same helper in every crate's tests).
pub(crate) fn rt(workers: usize) -> goro::Runtime {
    goro::Runtime::builder().workers(workers).build().unwrap()
}
