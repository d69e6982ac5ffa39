//! Valgrind client requests: magic instruction sequences that valgrind recognises and
//! real hardware executes as a few no-op rotates (the pattern of valgrind.h, as in
//! corosensei's `stack::valgrind`).
//!
//! goro needs one: the stack pool samples a dead green thread's stack below where its
//! stack pointer last was (`stack.rs`, the shrink watermark). That memory is ours, but
//! memcheck marks memory below a registered stack's pointer as inaccessible, so the
//! sample must first be declared defined or every pooled stack would report an invalid
//! read under valgrind.

/// memcheck's `VALGRIND_MAKE_MEM_DEFINED`: `VG_USERREQ_TOOL_BASE('M','C') + 2`.
const MAKE_MEM_DEFINED: u64 = (((b'M' as u64) << 24) | ((b'C' as u64) << 16)) + 2;

/// Tells memcheck that `len` bytes at `addr` are addressable and defined. No effect
/// (and no memory access) outside valgrind.
#[inline]
pub(crate) fn make_mem_defined(addr: *const u8, len: usize) {
    let args = [MAKE_MEM_DEFINED, addr as u64, len as u64, 0, 0, 0];
    // SAFETY: the sequence only rotates a register by a total of 128 bits (a no-op) and
    // reads nothing; under valgrind it is a client request that reads `args`, which is
    // live for the whole asm block.
    unsafe { request(&args) };
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn request(args: &[u64; 6]) {
    // SAFETY: see `make_mem_defined`; rdx carries the default result and is clobbered.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0u64 => _,
            in("rax") args.as_ptr(),
            options(nostack),
        );
    }
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn request(args: &[u64; 6]) {
    // SAFETY: see `make_mem_defined`; x3 carries the default result and is clobbered.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #61",
            "ror x12, x12, #51",
            "orr x10, x10, x10",
            inout("x3") 0u64 => _,
            in("x4") args.as_ptr(),
            options(nostack),
        );
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
unsafe fn request(_args: &[u64; 6]) {}
