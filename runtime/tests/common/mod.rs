//! Helpers shared by goro-runtime's integration tests: building a runtime, and re-running
//! this test binary as a child process (for process-wide limits such as `RLIMIT_NOFILE` or
//! `RLIMIT_AS`, or for paths that end the process).

// Not every test file uses every helper.
#![allow(dead_code)]

/// A runtime with `workers` worker threads.
pub(crate) fn rt(workers: usize) -> goro_runtime::Runtime {
    goro_runtime::Runtime::builder()
        .workers(workers)
        .build()
        .unwrap()
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

/// Runs `cmd` with its output captured, killing it (and failing the test) if it has not
/// finished within `limit`: for children that could hang.
pub(crate) fn output_within(
    mut cmd: std::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the child hung for {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
