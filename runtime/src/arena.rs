//! Pre-growing the worker thread's malloc arena (glibc).
//!
//! glibc serves each thread from its own arena: a 64 MiB reservation that starts out
//! `PROT_NONE` and is made writable one `mprotect` at a time, exactly as far as the
//! allocations in use reach. A worker that allocates a join slot per spawn and keeps them
//! alive (W1: 200 000 `JoinHandle`s) therefore makes an `mprotect` syscall per 4 KiB of
//! new heap — 4 000 of them, each also a TLB shoot-down for the other workers — where the
//! main arena grows by `sbrk` in 128 KiB steps.
//!
//! When the arena shrinks again glibc returns the pages with `MADV_DONTNEED` but keeps them
//! writable (unless `vm.overcommit_memory` is 2), and growing back within that size needs
//! no syscall. So each worker allocates and frees [`PREWARM_BYTES`] in arena-sized pieces
//! once, at start, and no resident memory is left behind. With
//! other allocators (musl, jemalloc) this is a few `malloc`/`free` calls and nothing else.

/// How far to pre-grow: room for ~250 000 small join slots.
const PREWARM_BYTES: usize = 16 << 20;
/// Just below glibc's default `mmap` threshold (128 KiB), so the pieces come from the
/// arena, each growing it with one `mprotect`.
const PIECE: usize = 127 << 10;

/// Grows the calling thread's malloc arena to [`PREWARM_BYTES`] and releases it again
/// (~130 `mprotect`s once, at worker start, instead of 4 000 later).
///
/// Best effort: it stops at the first allocation that fails. A worker may start while the
/// process is out of memory or address space (its thread can be scheduled late, after the
/// program has used up an `RLIMIT_AS`), and an optimization must not abort the process
/// there.
pub(crate) fn prewarm() {
    let n = PREWARM_BYTES.div_ceil(PIECE);
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    if pieces.try_reserve_exact(n).is_err() {
        return;
    }
    for _ in 0..n {
        let mut piece = Vec::new();
        if piece.try_reserve_exact(PIECE).is_err() {
            break;
        }
        pieces.push(std::hint::black_box(piece));
    }
    drop(std::hint::black_box(pieces));
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// Under an address-space limit that leaves no room for the arena, prewarming gives up
    /// instead of aborting (run in a child process: the limit is process-wide).
    #[test]
    fn prewarm_under_an_exhausted_address_space_returns() {
        const NAME: &str = "arena::tests::prewarm_under_an_exhausted_address_space_returns";
        if std::env::var("GORO_CHILD").as_deref() == Ok(NAME) {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let vm_kib: u64 = status
                .lines()
                .find(|l| l.starts_with("VmSize:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap()
                .parse()
                .unwrap();
            // Room for a thread stack, not for a 64 MiB glibc arena or the pieces.
            let limit = vm_kib * 1024 + (12 << 20);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit on our own process.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
            std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(super::prewarm)
                .expect("a small thread still fits")
                .join()
                .unwrap();
            println!("CHILD done");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env("GORO_CHILD", NAME)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CHILD done"),
            "{:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
