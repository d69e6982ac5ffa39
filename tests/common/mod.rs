//! Helpers shared by the facade's integration tests: the built examples, and re-running
//! this test binary as a child process (for paths that end the process).

// Not every test file uses every helper.
#![allow(dead_code)]

use std::path::PathBuf;

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
