//! Helpers shared by the integration tests that need a child process (for process-wide
//! limits such as `RLIMIT_NOFILE` or `RLIMIT_AS`, or for paths that end the process).

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
