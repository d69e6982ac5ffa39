//! Helpers shared by goro-chan's integration tests: building a runtime, and re-running this
//! test binary as a child process (for paths that end the process, such as a signal's
//! default action).

// Not every test file uses every helper.
#![allow(dead_code)]

/// A runtime with two worker threads.
pub(crate) fn rt() -> goro_runtime::Runtime {
    goro_runtime::Runtime::builder().workers(2).build().unwrap()
}

/// True in the child process started by [`child_command`] for `test`.
pub(crate) fn is_child(test: &str) -> bool {
    std::env::var("GORO_CHILD").as_deref() == Ok(test)
}

/// This test binary, set to run only `test`, as a child process.
pub(crate) fn child_command(test: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORO_CHILD", test);
    cmd
}
