//! `SIGQUIT` prints the dump to stderr and the program goes on (`Builder::dump_on_sigquit`,
//! opt-in): Go's `kill -QUIT` goroutine dump, minus the exit.
//!
//! A signal handler may do almost nothing, so the handler only writes one byte to a pipe;
//! a helper thread of goro's (`goro-dump`, known to sysmon, so deadlock verdicts stay
//! possible) blocks reading the pipe and writes `dump()` to stderr for each byte. It is
//! process-wide: the first runtime that asks installs it, and it lasts for the process.
//! It replaces `SIGQUIT`'s default action (core dump) for the whole process.

use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// The pipe's write end, for the handler.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// Installs the handler and its thread once; later calls return the first one's result.
pub(crate) fn install() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| start().map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL)))
        .map_err(io::Error::from_raw_os_error)
}

fn start() -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    std::thread::Builder::new()
        .name("goro-dump".into())
        .spawn(move || serve(read_end))?;
    crate::sysmon::helpers::thread_started();
    WAKE.store(write_end, Ordering::Release);
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set the
    // handler, which only calls write(2) (async-signal-safe) and restores errno.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigquit as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGQUIT, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_sigquit(_: libc::c_int) {
    // SAFETY: errno's location is the calling thread's; saved and restored around write.
    let errno = unsafe { *libc::__errno_location() };
    let fd = WAKE.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: write(2) of one byte from a static; async-signal-safe.
        unsafe { libc::write(fd, b"q".as_ptr().cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The `goro-dump` thread: one dump per byte read.
fn serve(read_end: libc::c_int) {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: read(2) into our one-byte buffer.
        let n = unsafe { libc::read(read_end, byte.as_mut_ptr().cast(), 1) };
        if n == 0 {
            return;
        }
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let dump = crate::dump();
        let _ = writeln!(io::stderr().lock(), "SIGQUIT: goroutine dump\n\n{dump}");
    }
}
