//! Re-running a test binary as a child process, for paths that end the process or set
//! process-wide limits (`RLIMIT_NOFILE`, `RLIMIT_AS`). One file for the whole workspace:
//! each crate's `tests/common/mod.rs` includes it with `#[path]`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// True in the child process started by [`child_command`] for `test`.
pub(crate) fn is_child(test: &str) -> bool {
    std::env::var("GORO_CHILD").as_deref() == Ok(test)
}

/// This test binary, set to run only `test`, as a child process.
pub(crate) fn child_command(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORO_CHILD", test);
    cmd
}

/// Runs `cmd` with its output captured; kills it and says so if it has not finished within
/// `limit` (for children that could hang).
pub(crate) fn try_output_within(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            return Err(format!("hung for {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child.wait_with_output().unwrap())
}

/// [`try_output_within`], failing the test if the child hangs.
pub(crate) fn output_within(cmd: Command, limit: Duration) -> Output {
    try_output_within(cmd, limit).unwrap_or_else(|e| panic!("the child {e}"))
}

/// Runs `test` in a child process (failing if it hangs for a minute) and returns its exit
/// status with its stdout and stderr as text.
pub(crate) fn run_child(test: &str) -> (std::process::ExitStatus, String, String) {
    let out = output_within(child_command(test), Duration::from_secs(60));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status, text(&out.stdout), text(&out.stderr))
}
