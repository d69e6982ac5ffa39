//! Stack traces of switched-out green threads, for `dump()` and deadlock reports (Go's
//! `goroutine 7 [chan receive]:` blocks), taken without running the green thread.
//!
//! # How
//! * **At the switch** (`park` and `yield_now`, the only places a green thread switches
//!   out): the switching frame keeps its own `pc`, `sp` and `bp` in a [`SwitchRegs`] on
//!   the green thread's stack and publishes its address in `G::switched_at` — three
//!   register moves and two stores per switch, nothing else on the hot path. The frames
//!   above it (the green thread's callers) stay untouched while it is switched out.
//! * **At the dump**: [framehop](https://docs.rs/framehop) unwinds from those registers
//!   through the modules' `.eh_frame` unwind tables (found with `dl_iterate_phdr`),
//!   reading only the green thread's own stack; the `backtrace` crate (std's symbolizer)
//!   names each address, inlined frames included, with a cache shared by every dump.
//!
//! The dump does not stop the green thread. It reads `switched_at` and the G's state word
//! before and after the walk; if either changed, the green thread ran meanwhile and the
//! trace is dropped ("stack changed while it was read"). Every read is a volatile word
//! read inside the green thread's own stack mapping, which stays mapped while the dump
//! holds a reference to the G.
//!
//! # Invariants
//! 1. `switched_at` is non-zero only while the G is switched out at a park or yield
//!    point, and then points at a `SwitchRegs` in the switching frame on the G's stack.
//! 2. The stack range read is the G's usable stack (or the segment it runs on), which is
//!    mapped for as long as a `GRef` to the G exists (`g/mod.rs`: the G owns its stack).
//!
//! x86_64 only (the registers and the unwinder are the architecture's); elsewhere a dump
//! shows no stacks.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crate::g::G;
use crate::lock::Mutex;

/// Frames printed at most per green thread.
const MAX_FRAMES: usize = 48;

/// The registers of a frame that switches out, kept in that frame.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct SwitchRegs {
    pc: u64,
    sp: u64,
    bp: u64,
}

impl SwitchRegs {
    /// This frame's registers, at this point of the code. Inlined into the caller, so
    /// `pc` and `sp` describe the caller's frame (what the unwinder needs: a `pc` and the
    /// `sp` that goes with it).
    #[inline(always)]
    pub(crate) fn here() -> SwitchRegs {
        let (pc, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers into outputs; touches no memory and no stack.
        unsafe {
            std::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            );
        }
        SwitchRegs { pc, sp, bp }
    }

    /// The `sp` of the `SwitchRegs` at `at`.
    ///
    /// # Safety
    /// `at` is a published `G::switched_at` of a G that stays switched out meanwhile.
    pub(crate) unsafe fn sp_at(at: usize) -> u64 {
        // SAFETY: by this function's contract, `at` points at a live `SwitchRegs`.
        unsafe { (*(at as *const SwitchRegs)).sp }
    }
}

/// `g`'s stack trace if it is switched out: one entry per frame, innermost first, each
/// `function\n        file:line`. `Err` says why there is none.
pub(crate) fn trace(g: &G) -> Result<Vec<String>, &'static str> {
    let at = g.switched_at.load(Ordering::Acquire);
    if at == 0 {
        return Err("not switched out");
    }
    let state = g.diag.state_word();
    // A stack that sysmon holds or compacted is read from its saved copy (`compact.rs`,
    // invariant 4); one that changes hands meanwhile fails the re-check below.
    let park = g.park.word();
    let moved = crate::primitives::park_state::stack_out(park);
    let range = stack_range(g);
    let read = |addr: u64| -> Result<u64, ()> {
        if addr % 8 != 0 || addr < range.0 || addr.saturating_add(8) > range.1 {
            return Err(());
        }
        if moved {
            return crate::stacks::compact::read_saved(g, addr as usize).ok_or(());
        }
        // SAFETY: an aligned word inside the G's own stack mapping, mapped while the
        // caller holds a reference to the G (invariant 2). The G may run meanwhile; a
        // torn view is caught by the re-check below, and the value is only a number.
        Ok(unsafe { std::ptr::read_volatile(addr as *const u64) })
    };
    let regs = [read(at as u64), read(at as u64 + 8), read(at as u64 + 16)];
    let [Ok(pc), Ok(sp), Ok(bp)] = regs else {
        return Err("registers outside the stack");
    };
    let addresses = unwind(pc, sp, bp, read);
    if g.switched_at.load(Ordering::Acquire) != at
        || g.diag.state_word() != state
        || g.park.word() != park
    {
        return Err("stack changed while it was read");
    }
    Ok(symbolize(&addresses))
}

/// The G's readable stack: the segment it runs on, or its own stack above the guard.
fn stack_range(g: &G) -> (u64, u64) {
    match g.segment_guard.load(Ordering::Relaxed) {
        0 => {
            let r = g.guard.usable_range();
            (r.start as u64, r.end as u64)
        }
        guard => {
            let lo = guard + crate::stacks::page_size();
            let kib = g.segment_kib.load(Ordering::Relaxed);
            (lo as u64, (lo + kib * 1024) as u64)
        }
    }
}

type Unwinder = framehop::x86_64::UnwinderX86_64<&'static [u8]>;
type Cache = framehop::x86_64::CacheX86_64;

/// The process's modules, loaded once, and the unwinder's rule cache.
fn unwinder() -> &'static Mutex<(Unwinder, Cache)> {
    static UNWINDER: OnceLock<Mutex<(Unwinder, Cache)>> = OnceLock::new();
    UNWINDER.get_or_init(|| {
        use framehop::Unwinder as _;
        let mut unwinder = Unwinder::new();
        for module in modules::loaded() {
            unwinder.add_module(module);
        }
        Mutex::new((unwinder, Cache::new()))
    })
}

/// Code addresses of the frames, innermost first (a return address is moved back into
/// its call instruction, for the symbolizer).
fn unwind(pc: u64, sp: u64, bp: u64, mut read: impl FnMut(u64) -> Result<u64, ()>) -> Vec<u64> {
    use framehop::Unwinder as _;
    let mut guard = unwinder().lock();
    let (unwinder, cache) = &mut *guard;
    let regs = framehop::x86_64::UnwindRegsX86_64::new(pc, sp, bp);
    let mut frames = unwinder.iter_frames(pc, regs, cache, &mut read);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = frames.next() {
        out.push(frame.address_for_lookup());
        if out.len() == MAX_FRAMES * 2 {
            break;
        }
    }
    out
}

/// One frame, named: its function and, with debug info, its file and line.
#[derive(Clone, Debug)]
struct Frame {
    function: String,
    location: Option<String>,
}

impl Frame {
    fn in_file(&self, suffix: &str) -> bool {
        self.location
            .as_deref()
            .and_then(|l| l.rsplit_once(':'))
            .is_some_and(|(file, _)| file.ends_with(suffix))
    }
}

/// Names the addresses (each may be several inlined frames) and keeps the green
/// thread's own: from the switch (`park_green`, Go's `gopark`) out to the function it was
/// started with. The register capture above the switch, the `catch_unwind` goro puts
/// around every green thread's function and the coroutine machinery below it are cut.
/// (An inlined frame carries the short name the debug info gives it, `recv<u32>`; its file
/// says where it is.)
fn symbolize(addresses: &[u64]) -> Vec<String> {
    static NAMES: OnceLock<Mutex<HashMap<u64, Vec<Frame>>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock();
    let mut frames: Vec<Frame> = Vec::new();
    for &addr in addresses {
        let resolved = names.entry(addr).or_insert_with(|| resolve(addr));
        frames.extend(resolved.iter().cloned());
    }
    drop(names);
    let is_switch =
        |f: &Frame| f.function.contains("park_green") || f.function.contains("yield_green");
    if let Some(switch) = frames.iter().position(is_switch) {
        frames.drain(..switch);
    }
    let is_entry = |f: &Frame| {
        f.function.starts_with("corosensei::")
            || f.function == "stack_init_trampoline"
            || f.location
                .as_deref()
                .is_some_and(|l| l.contains("/corosensei-"))
    };
    if let Some(entry) = frames.iter().position(is_entry) {
        frames.truncate(entry);
    }
    let is_goro_catch = |f: &Frame| f.function.contains("do_call") && f.in_file("panicking.rs");
    if let Some(i) = frames.iter().rposition(is_goro_catch) {
        let assert = i
            .checked_sub(1)
            .filter(|&j| frames[j].in_file("unwind_safe.rs"));
        frames.truncate(assert.unwrap_or(i));
    }
    frames.truncate(MAX_FRAMES);
    frames
        .into_iter()
        .map(|f| match f.location {
            Some(at) => format!("{}\n                {at}", f.function),
            None => f.function,
        })
        .collect()
}

/// The frames at `addr`, innermost first.
fn resolve(addr: u64) -> Vec<Frame> {
    let mut out = Vec::new();
    backtrace::resolve(addr as usize as *mut std::ffi::c_void, |sym| {
        let function = match sym.name() {
            Some(name) => without_generics(&format!("{name:#}")),
            None => format!("{addr:#x}"),
        };
        let location = match (sym.filename(), sym.lineno()) {
            (Some(file), Some(line)) => Some(format!("{}:{line}", file.display())),
            _ => None,
        };
        out.push(Frame { function, location });
    });
    if out.is_empty() {
        out.push(Frame {
            function: format!("{addr:#x}"),
            location: None,
        });
    }
    out
}

/// `park_green<goro_chan::...<...>>` → `park_green`: an inlined frame's debug-info name
/// carries its generic arguments in full, often longer than a line, and the file and line
/// below it say where it is. A name that starts with `<` (`<T as Trait>::f`) is kept.
fn without_generics(name: &str) -> String {
    if name.starts_with('<') {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The process's loaded modules, as framehop wants them: address ranges and unwind
/// tables read in place from memory (the main executable and every shared library).
mod modules {
    use framehop::{ExplicitModuleSectionInfo, Module};

    /// Every module `dl_iterate_phdr` reports that has a text segment.
    pub(super) fn loaded() -> Vec<Module<&'static [u8]>> {
        let mut out: Vec<Module<&'static [u8]>> = Vec::new();
        // SAFETY: the callback gets `out` back as the data pointer, and only reads the
        // program headers the loader hands it for the duration of the call.
        unsafe {
            libc::dl_iterate_phdr(Some(each), &mut out as *mut _ as *mut libc::c_void);
        }
        out
    }

    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `info` and our `data` (see `loaded`).
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<Module<&'static [u8]>>)) };
        // SAFETY: as above: `dlpi_phdr` points at `dlpi_phnum` headers.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        if let Some(module) = module(info.dlpi_addr, headers) {
            out.push(module);
        }
        0
    }

    /// One module from its load bias and program headers.
    fn module(base: u64, headers: &[libc::Elf64_Phdr]) -> Option<Module<&'static [u8]>> {
        let loads = || headers.iter().filter(|h| h.p_type == libc::PT_LOAD);
        let text = loads().find(|h| h.p_flags & libc::PF_X != 0)?;
        let lo = loads().map(|h| h.p_vaddr).min()?;
        let hi = loads().map(|h| h.p_vaddr + h.p_memsz).max()?;
        let text_svma = text.p_vaddr..text.p_vaddr + text.p_filesz;
        let mut info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: Some(text_svma.clone()),
            // SAFETY: a loaded executable segment: mapped readable for the process's life
            // (modules are never unloaded here; one that is would only cost its frames).
            text: Some(unsafe { bytes(base + text_svma.start, text.p_filesz) }),
            ..Default::default()
        };
        if let Some(hdr) = headers.iter().find(|h| h.p_type == libc::PT_GNU_EH_FRAME) {
            // SAFETY: the loader maps PT_GNU_EH_FRAME inside a PT_LOAD segment.
            let hdr_bytes = unsafe { bytes(base + hdr.p_vaddr, hdr.p_memsz) };
            if let Some(eh_frame) = eh_frame_address(hdr_bytes, base + hdr.p_vaddr) {
                // .eh_frame runs to the end of its segment at most.
                let seg = loads().find(|h| {
                    let svma = eh_frame - base;
                    svma >= h.p_vaddr && svma < h.p_vaddr + h.p_memsz
                })?;
                let len = seg.p_vaddr + seg.p_memsz - (eh_frame - base);
                info.eh_frame_svma = Some(eh_frame - base..eh_frame - base + len);
                // SAFETY: inside a loaded segment (just checked), mapped readable.
                info.eh_frame = Some(unsafe { bytes(eh_frame, len) });
            }
            info.eh_frame_hdr_svma = Some(hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz);
            info.eh_frame_hdr = Some(hdr_bytes);
        }
        Some(Module::new(String::new(), base + lo..base + hi, base, info))
    }

    /// Where `.eh_frame` starts, from the `eh_frame_ptr` field of `.eh_frame_hdr` (at
    /// `at`): version 1, then the pointer's encoding, then the pointer.
    fn eh_frame_address(hdr: &[u8], at: u64) -> Option<u64> {
        const PCREL_SDATA4: u8 = 0x1b;
        const UDATA4: u8 = 0x03;
        const SDATA4: u8 = 0x0b;
        const UDATA8: u8 = 0x04;
        if hdr.len() < 8 || hdr[0] != 1 {
            return None;
        }
        let word4 = i32::from_le_bytes(hdr[4..8].try_into().ok()?);
        match hdr[1] {
            PCREL_SDATA4 => Some((at + 4).wrapping_add(word4 as i64 as u64)),
            SDATA4 => Some(word4 as i64 as u64),
            UDATA4 => Some(word4 as u32 as u64),
            UDATA8 => Some(u64::from_le_bytes(hdr.get(4..12)?.try_into().ok()?)),
            _ => None,
        }
    }

    /// # Safety
    /// `[addr, addr + len)` is mapped readable for the rest of the process.
    unsafe fn bytes(addr: u64, len: u64) -> &'static [u8] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::without_generics;

    #[test]
    fn generic_arguments_are_dropped_from_function_names() {
        assert_eq!(
            without_generics("park_green<goro_chan::hchan::X<u32>>"),
            "park_green"
        );
        assert_eq!(
            without_generics("goro_chan::hchan::Chan<T>::recv"),
            "goro_chan::hchan::Chan::recv"
        );
        assert_eq!(without_generics("consumer"), "consumer");
        let qualified = "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once";
        assert_eq!(without_generics(qualified), qualified);
    }
}
