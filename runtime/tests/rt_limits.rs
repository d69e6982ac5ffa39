//! Fatal and limit paths, each in a child process (this test binary re-executed with
//! `GORO_CHILD` set): stack overflow, mapping failures under a low RLIMIT_AS, the stack
//! budget.

mod common;
use common::{child_command, is_child};

fn child(name: &str) -> std::process::Output {
    child_with(name, &[])
}

/// Runs test `name` alone in a child process, with `envs` added to its environment.
fn child_with(name: &str, envs: &[(&str, &str)]) -> std::process::Output {
    child_command(name)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n as u8; 512]);
    if n == 0 {
        return buf[0] as u64;
    }
    recurse(n - 1) + std::hint::black_box(buf[1]) as u64
}

#[test]
fn stack_overflow_names_the_green_thread_and_the_fix() {
    if is_child("stack_overflow_names_the_green_thread_and_the_fix") {
        let rt = goro_runtime::Runtime::builder()
            .workers(1)
            .stack_size(64 * 1024)
            .build()
            .unwrap();
        rt.block_on(|| recurse(1 << 20));
        unreachable!();
    }
    // Both guards: the arena's (`MADV_GUARD_INSTALL`) and the fallback's `mprotect`.
    for guard in ["default", "mprotect"] {
        let out = child_with(
            "stack_overflow_names_the_green_thread_and_the_fix",
            &[("GORO_STACK_GUARD", guard)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("has overflowed its stack"),
            "{guard}: stderr: {stderr}"
        );
        assert!(
            stderr.contains("green thread 1"),
            "{guard}: stderr: {stderr}"
        );
        assert!(
            stderr.contains("rt_limits.rs"),
            "{guard}: spawn site: {stderr}"
        );
        assert!(stderr.contains("stack_size"), "{guard}: stderr: {stderr}");
        assert!(stderr.contains("64 KiB"), "{guard}: stderr: {stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
    }
}

#[test]
fn os_thread_overflow_still_reported_by_std() {
    if is_child("os_thread_overflow_still_reported_by_std") {
        let _rt = goro_runtime::Runtime::new().unwrap(); // installs goro's handler
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| recurse(1 << 20))
            .unwrap()
            .join()
            .ok();
        unreachable!();
    }
    let out = child("os_thread_overflow_still_reported_by_std");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("has overflowed its stack"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("green thread"), "not ours: {stderr}");
}

fn vm_size() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn mapping_failure_is_a_clear_error_not_a_crash() {
    if is_child("mapping_failure_is_a_clear_error_not_a_crash") {
        let rt = goro_runtime::Runtime::builder()
            .workers(2)
            .stack_size(4 << 20)
            .build()
            .unwrap();
        // Warm up: every worker makes its first allocations (glibc reserves a 64 MiB arena
        // per thread on first malloc) and a few dead green threads are pooled, so that what
        // fails under the limit below is only new stacks. (Without this the test was flaky
        // on a loaded machine: the main green thread's own spawn could fail.)
        rt.block_on(|| {
            let hs: Vec<_> = (0..64)
                .map(|i| goro_runtime::go(move || vec![i; 64].len()))
                .collect();
            hs.into_iter().for_each(|h| drop(h.join()));
        });
        let limit = vm_size() + (256 << 20);
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit on our own process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        let (ok, err, panic_msg) = rt.block_on(|| {
            let mut hs = Vec::new();
            let err = loop {
                match goro_runtime::try_go(|| {
                    goro_runtime::park::park(goro_runtime::park::WaitReason::Other, || {})
                }) {
                    Ok(h) => hs.push(h),
                    Err(e) => break e,
                }
                assert!(hs.len() < 10_000, "RLIMIT_AS never hit");
            };
            // `go` panics at the limit too. The limit's edge moves a little as the rest of
            // the process maps and unmaps memory, so keep spawning parked green threads
            // until it is reached again.
            let p = loop {
                let spawn = || {
                    goro_runtime::go(|| {
                        goro_runtime::park::park(goro_runtime::park::WaitReason::Other, || {})
                    })
                };
                match std::panic::catch_unwind(spawn) {
                    Ok(h) => hs.push(h),
                    Err(p) => break p,
                }
                assert!(hs.len() < 10_000, "go never hit RLIMIT_AS");
            };
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
            (hs.len(), err.to_string(), msg)
        });
        println!("CHILD ok={ok}\nCHILD err={err}\nCHILD panic={panic_msg}");
        drop(rt);
        println!("CHILD done");
        return;
    }
    // With a backtrace, 20 times: goro keeps address-space headroom under RLIMIT_AS, so
    // the panic that reports the limit has room for std's backtrace printer (without the
    // headroom it failed to allocate and hung in 6 of 10 runs).
    for run in 0..20 {
        let mut cmd = child_command("mapping_failure_is_a_clear_error_not_a_crash");
        cmd.env("RUST_BACKTRACE", "1");
        let out = common::output_within(cmd, std::time::Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run}: status {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("CHILD done"), "{stdout}");
        let err = stdout
            .lines()
            .find(|l| l.starts_with("CHILD err="))
            .unwrap();
        for needle in ["RLIMIT_AS", "ulimit -v", "stack_size"] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
        assert!(
            !err.contains("vm.max_map_count"),
            "the limit hit was RLIMIT_AS: {err}"
        );
        let panic = stdout
            .lines()
            .find(|l| l.starts_with("CHILD panic="))
            .unwrap();
        assert!(panic.contains("RLIMIT_AS"), "{panic}");
    }
}

/// Spawning past the stack budget (here `GORO_MAX_STACKS=300`; by default a share of
/// `vm.max_map_count`) panics in `go` with the message naming the limit, and the process
/// ends — also with `RUST_BACKTRACE=1`, whose printer needs to map memory (it hung when
/// the stacks took every mapping the kernel allows).
#[test]
fn spawning_past_the_stack_budget_is_a_clear_panic_not_a_hang() {
    const NAME: &str = "spawning_past_the_stack_budget_is_a_clear_panic_not_a_hang";
    if is_child(NAME) {
        let rt = common::rt(1);
        rt.block_on(|| {
            let r = goro_runtime::try_go(|| {});
            assert!(r.is_ok());
            r.unwrap().join().unwrap();
            // Every spawned green thread parks for good, so each keeps its stack.
            let hs: Vec<_> = (0..1000)
                .map(|_| {
                    goro_runtime::go(|| {
                        goro_runtime::park::park(goro_runtime::park::WaitReason::Other, || {})
                    })
                })
                .collect();
            drop(hs);
        });
        unreachable!("the budget was not enforced");
    }
    let out = child_with(NAME, &[("GORO_MAX_STACKS", "300"), ("RUST_BACKTRACE", "1")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for needle in [
        "GORO_MAX_STACKS=300 caps",
        "Raise or unset",
        "stack backtrace",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in {stderr}");
    }
    // The limit hit was the environment's, not the kernel's: say only that.
    assert!(!stderr.contains("vm.max_map_count"), "{stderr}");
}

#[test]
fn a_malformed_goro_max_stacks_is_an_error() {
    const NAME: &str = "a_malformed_goro_max_stacks_is_an_error";
    if is_child(NAME) {
        let e = goro_runtime::Runtime::new().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        println!("CHILD {e}");
        return;
    }
    for bad in ["garbage", "-5", "", "0"] {
        let out = child_with(NAME, &[("GORO_MAX_STACKS", bad)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("GORO_MAX_STACKS must be a positive integer"),
            "{bad:?}: {stdout}"
        );
    }
}

/// A spawner that outruns its green threads does not map a stack per unstarted one: with
/// no recycled green thread at hand and a long queue, `go` lets the queue run first
/// (backpressure). 20 000 spawns in a row on one worker fit in a 300-stack budget.
#[test]
fn a_spawn_burst_recycles_stacks_instead_of_mapping_one_per_green_thread() {
    const NAME: &str = "a_spawn_burst_recycles_stacks_instead_of_mapping_one_per_green_thread";
    if is_child(NAME) {
        let rt = common::rt(1);
        let sum: u64 = rt.block_on(|| {
            let hs: Vec<_> = (0..20_000u64)
                .map(|i| goro_runtime::go(move || i))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        println!("CHILD sum={sum}");
        return;
    }
    let out = child_with(NAME, &[("GORO_MAX_STACKS", "300")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD sum=199990000"), "{stdout}");
}

/// Drops to an unprivileged user if root (root ignores `RLIMIT_NPROC`), then caps the
/// user's threads at the process's own, so that no further thread can start.
fn forbid_new_threads() {
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count() as u64;
    // SAFETY: plain libc calls with valid arguments, in a single-purpose child process.
    unsafe {
        if libc::geteuid() == 0 {
            assert_eq!(libc::setgid(65534), 0, "setgid nobody");
            assert_eq!(libc::setuid(65534), 0, "setuid nobody");
        }
        let lim = libc::rlimit {
            rlim_cur: threads,
            rlim_max: threads,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NPROC, &lim), 0);
    }
    assert!(
        std::thread::Builder::new().spawn(|| ()).is_err(),
        "a thread still starts"
    );
}

#[test]
fn blocking_without_a_thread_runs_inline_and_says_so_instead_of_hanging() {
    const NAME: &str = "blocking_without_a_thread_runs_inline_and_says_so_instead_of_hanging";
    if is_child(NAME) {
        let rt = common::rt(1);
        forbid_new_threads();
        let sum = rt.block_on(|| {
            let a = goro_runtime::blocking(|| 40);
            let b = goro_runtime::go(|| goro_runtime::blocking(|| 2))
                .join()
                .unwrap();
            a + b
        });
        assert_eq!(sum, 42);
        println!("child: blocking returned {sum}");
        return;
    }
    let out = common::output_within(child_command(NAME), std::time::Duration::from_secs(60));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("child: blocking returned 42"), "{stdout}");
    assert_eq!(
        stderr.matches("blocking(): cannot start a thread").count(),
        1,
        "one warning: {stderr}"
    );
}

#[test]
fn the_minimum_stack_holds_a_panic_with_a_backtrace() {
    const NAME: &str = "the_minimum_stack_holds_a_panic_with_a_backtrace";
    if is_child(NAME) {
        let rt = goro_runtime::Runtime::builder()
            .workers(1)
            .stack_size(goro_runtime::MIN_STACK_SIZE)
            .build()
            .unwrap();
        let r = rt.block_on(|| goro_runtime::go(|| -> u32 { panic!("an ordinary panic") }).join());
        assert!(r.is_err());
        println!("CHILD joined the panic");
        return;
    }
    for bt in ["1", "full"] {
        let out = child_with(NAME, &[("RUST_BACKTRACE", bt)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "RUST_BACKTRACE={bt}: {stderr}");
        assert!(stderr.contains("stack backtrace"), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD joined the panic"));
    }
}

/// The descriptor table's size as the kernel reports it (`FDSize`).
fn fd_table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
    line["FDSize:".len()..].trim().parse().unwrap()
}

/// Sets the soft descriptor limit of this (child) process.
fn set_soft_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with valid pointers, in a single-purpose child process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = n.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

#[test]
fn a_runtime_grows_the_descriptor_table_up_front_unless_told_not_to() {
    const NAME: &str = "a_runtime_grows_the_descriptor_table_up_front_unless_told_not_to";
    if is_child(NAME) {
        set_soft_nofile(4096);
        let before = fd_table_size();
        let mode = std::env::var("RESERVE").unwrap();
        let b = goro_runtime::Runtime::builder().workers(1);
        let b = match mode.as_str() {
            "default" => b,
            n => b.reserve_fds(n.parse().unwrap()),
        };
        let rt = b.build().unwrap();
        // A descriptor opened afterwards still gets the lowest free number.
        let fd = rt.block_on(|| {
            use std::os::fd::AsRawFd;
            std::fs::File::open("/dev/null").unwrap().as_raw_fd()
        });
        println!("CHILD before={before} after={} fd={fd}", fd_table_size());
        return;
    }
    for (mode, grown) in [("default", true), ("0", false), ("2000", true)] {
        let out = child_with(NAME, &[("RESERVE", mode)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |k: &str| -> usize {
            let at = stdout.find(&format!("{k}=")).unwrap() + k.len() + 1;
            let end = stdout[at..].find([' ', '\n']).unwrap() + at;
            stdout[at..end].parse().unwrap()
        };
        let (before, after) = (field("before"), field("after"));
        assert!(before < 2000, "{mode}: {stdout}");
        let want = if mode == "default" { 4096 } else { 2000 };
        assert_eq!(after >= want, grown, "{mode}: {stdout}");
        assert!(field("fd") < 64, "{mode}: {stdout}");
    }
}
