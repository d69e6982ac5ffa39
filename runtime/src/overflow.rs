//! Stack overflow: turning a hit on a green thread's guard page into a clear message.
//!
//! A green thread that runs off the bottom of its stack touches the `PROT_NONE` guard page
//! (Rust's stack probes touch every page of a large frame in order, so a big frame cannot
//! jump over it). The kernel raises SIGSEGV on the faulting thread. Our handler runs on an
//! alternate signal stack (the faulting stack is exhausted) and checks whether the fault
//! address lies in the guard page of the green thread this worker is running; if so it
//! prints which green thread overflowed and how to fix it, then aborts — like std's
//! "thread 'x' has overflowed its stack". Any other fault goes to the handler that was
//! installed before ours (std's, for OS-thread overflows), or to the default action.
//!
//! Everything the handler does is async-signal-safe: a `const` thread-local read, reads of
//! immutable fields of the running G, formatting into a stack buffer, `write(2)`, `abort`.

use std::fmt::Write as _;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use crate::g::context;

static INSTALL: Once = Once::new();
static PREV_SEGV: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());
static PREV_BUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());

/// Installs the handler for SIGSEGV and SIGBUS once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (sig, prev) in [(libc::SIGSEGV, &PREV_SEGV), (libc::SIGBUS, &PREV_BUS)] {
            // SAFETY: plain sigaction(2) with a zeroed, then filled, struct; the previous
            // action is leaked into a static so the handler can chain to it forever.
            unsafe {
                let mut new: libc::sigaction = MaybeUninit::zeroed().assume_init();
                new.sa_sigaction = handler as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                let old = Box::into_raw(Box::new(
                    MaybeUninit::<libc::sigaction>::zeroed().assume_init(),
                ));
                if libc::sigaction(sig, &new, old) == 0 {
                    prev.store(old, Ordering::Release);
                } else {
                    drop(Box::from_raw(old));
                }
            }
        }
    });
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ucx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(g) = context::running_g() {
        // SAFETY: the worker keeps the G it runs alive while it runs; `guard`, `id` and
        // `spawn_site` are immutable.
        let g = unsafe { &*g };
        if g.guard.contains(addr) {
            report_overflow(
                g.id(),
                g.name(),
                g.spawn_site(),
                g.guard.usable_kib(),
                false,
            );
        }
        let segment = g.segment_guard.load(Ordering::Relaxed);
        if segment != 0 && addr.wrapping_sub(segment) < crate::stacks::page_size() {
            let kib = g.segment_kib.load(Ordering::Relaxed);
            report_overflow(g.id(), g.name(), g.spawn_site(), kib, true);
        }
    }
    chain(sig, info, ucx);
}

fn report_overflow(
    id: u64,
    name: Option<&str>,
    site: Option<&std::panic::Location<'_>>,
    usable_kib: usize,
    segment: bool,
) -> ! {
    let mut buf = Buf {
        bytes: [0; 1024],
        len: 0,
    };
    let _ = write!(buf, "\ngoro: fatal error: green thread {id} ");
    if let Some(name) = name {
        let _ = write!(buf, "{name:?} ");
    }
    if let Some(site) = site {
        let _ = write!(buf, "(spawned at {site}) ");
    }
    let _ = if segment {
        write!(
            buf,
            "has overflowed a goro::stack::maybe_grow segment\n\
             goro: the segment is {usable_kib} KiB; pass maybe_grow a larger stack_size or \
             a larger red_zone\n"
        )
    } else {
        write!(
            buf,
            "has overflowed its stack\n\
             goro: its stack reservation is {usable_kib} KiB; give green threads a larger one \
             with goro::Runtime::builder().stack_size(bytes), wrap deep recursion in \
             goro::stack::maybe_grow, or move large arrays off the stack (Box, Vec)\n"
        )
    };
    // SAFETY: write(2) and abort(3) are async-signal-safe; `buf` is a valid byte range.
    unsafe {
        libc::write(2, buf.bytes.as_ptr().cast(), buf.len);
        libc::abort();
    }
}

fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ucx: *mut libc::c_void) {
    let prev = if sig == libc::SIGSEGV {
        &PREV_SEGV
    } else {
        &PREV_BUS
    };
    let prev = prev.load(Ordering::Acquire);
    // SAFETY: `prev` is null or a leaked, never-freed sigaction (see `install`). Calling the
    // previous handler with our arguments is what it expects; SIG_DFL/SIG_IGN are restored
    // and the faulting instruction re-executes into the default action.
    unsafe {
        let action = if prev.is_null() {
            libc::SIG_DFL
        } else {
            (*prev).sa_sigaction
        };
        if action == libc::SIG_DFL || action == libc::SIG_IGN {
            let mut dfl: libc::sigaction = MaybeUninit::zeroed().assume_init();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, ptr::null_mut());
        } else if (*prev).sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(action);
            f(sig, info, ucx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(action);
            f(sig);
        }
    }
}

struct Buf {
    bytes: [u8; 1024],
    len: usize,
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// An alternate signal stack for a worker thread that has none (std gives one to the
/// threads it spawns only when its own handler is installed). Removed on drop.
#[derive(Debug)]
pub(crate) struct AltStack {
    mem: *mut libc::c_void,
    len: usize,
}

impl AltStack {
    const SIZE: usize = 64 * 1024;

    pub(crate) fn install() -> Option<AltStack> {
        // SAFETY: sigaltstack(2) with a null new stack only queries.
        unsafe {
            let mut old: libc::stack_t = MaybeUninit::zeroed().assume_init();
            if libc::sigaltstack(ptr::null(), &mut old) != 0 || old.ss_flags & libc::SS_DISABLE == 0
            {
                return None; // already has one (or cannot tell): keep it
            }
        }
        let page = crate::stacks::page_size();
        let len = Self::SIZE + page;
        // SAFETY: a fresh anonymous mapping; its lowest page becomes a guard.
        let mem = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: `mem..mem+len` is the mapping just created; we register its upper part as
        // this thread's signal stack.
        unsafe {
            libc::mprotect(mem, page, libc::PROT_NONE);
            let st = libc::stack_t {
                ss_sp: mem.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: Self::SIZE,
            };
            if libc::sigaltstack(&st, ptr::null_mut()) != 0 {
                libc::munmap(mem, len);
                return None;
            }
        }
        Some(AltStack { mem, len })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disable the signal stack before unmapping it; we own the mapping.
        unsafe {
            let st = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: Self::SIZE,
            };
            libc::sigaltstack(&st, ptr::null_mut());
            libc::munmap(self.mem, self.len);
        }
    }
}
