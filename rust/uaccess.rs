// SPDX-License-Identifier: GPL-2.0

//! One user access window with typed reads and writes.
//!
//! C header: [`include/linux/uaccess.h`](srctree/include/linux/uaccess.h)
//! (`scoped_user_rw_access()`, `unsafe_get_user()`, `unsafe_put_user()`).
//!
//! The rseq fast path runs with interrupts disabled and updates four ID
//! fields and reads `rseq_cs` in a single window, as the C code does. While
//! the window is open nothing may be called that is not inlined (objtool
//! checks this on x86_64). Every method here is `#[inline(always)]` and the
//! helpers it uses wrap a single primitive each; `CONFIG_RSEQ_RUST` depends
//! on `CONFIG_RUST_INLINE_HELPERS`, which inlines them.

use core::ffi::c_void;
use kernel::bindings;

/// A user access that faulted and could not be resolved.
///
/// With page faults disabled (the fast path) any fault that needs the page
/// to be brought in ends here; with page faults enabled only accesses to
/// unmapped or protected memory do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault;

/// An open user read/write access window.
///
/// # Invariants
///
/// User access is enabled from [`UserWindow::open`] until the value is
/// dropped. `base` is the pointer returned by the window's begin primitive
/// (masked on architectures which mask user pointers) and points to at
/// least the `size` bytes given to [`UserWindow::open`], in user space.
pub(crate) struct UserWindow {
    base: *mut u8,
}

impl UserWindow {
    /// Opens a window for `size` bytes at the user address `uptr`.
    ///
    /// Returns [`Fault`] if the range is rejected (architectures without
    /// pointer masking check it against `TASK_SIZE`).
    ///
    /// # Context
    ///
    /// Any context in which user memory may be accessed; with page faults
    /// disabled, faults are not resolved.
    #[inline(always)]
    pub(crate) fn open(uptr: u64, size: usize) -> Result<Self, Fault> {
        let mut base = uptr as usize as *mut c_void;
        // SAFETY: The helper only opens the window and updates `base`; a
        // rejected range returns false and leaves the window closed.
        if !unsafe { bindings::rseq_user_rw_access_begin(&mut base, size) } {
            return Err(Fault);
        }
        // INVARIANT: The window is open. `base` may be a masked, faulting
        // address (even NULL): accesses through it fault and are reported.
        Ok(Self { base: base.cast() })
    }

    /// Reads the `u32` at byte offset `off` in the window.
    #[inline(always)]
    pub(crate) fn read_u32(&self, off: usize) -> Result<u32, Fault> {
        self.read_u32_at(self.base.wrapping_add(off).cast())
    }

    /// Reads the `u64` at byte offset `off` in the window.
    #[inline(always)]
    pub(crate) fn read_u64(&self, off: usize) -> Result<u64, Fault> {
        let mut val = 0u64;
        // SAFETY: The window is open (type invariant); a fault at the
        // address is caught by the exception table and reported.
        let ret = unsafe {
            bindings::rseq_unsafe_get_user_u64(&mut val, self.base.wrapping_add(off).cast())
        };
        if ret != 0 {
            return Err(Fault);
        }
        Ok(val)
    }

    /// Reads a `u32` at the user address `uptr`, outside of the window's
    /// own range, as C does for the signature before the abort handler.
    ///
    /// The caller has checked `uptr` to be below `TASK_SIZE`.
    #[inline(always)]
    pub(crate) fn read_u32_at(&self, uptr: *const u32) -> Result<u32, Fault> {
        let mut val = 0u32;
        // SAFETY: The window is open (type invariant) and `uptr` is a user
        // address; a fault is caught by the exception table and reported.
        let ret = unsafe { bindings::rseq_unsafe_get_user_u32(&mut val, uptr) };
        if ret != 0 {
            return Err(Fault);
        }
        Ok(val)
    }

    /// Writes the `u32` at byte offset `off` in the window.
    #[inline(always)]
    pub(crate) fn write_u32(&self, off: usize, val: u32) -> Result<(), Fault> {
        self.write_u32_at(self.base.wrapping_add(off).cast(), val)
    }

    /// Writes `val` to the user address `uptr`, which lies outside of the
    /// window's range and was validated when rseq was registered.
    #[inline(always)]
    pub(crate) fn write_u32_at(&self, uptr: *mut u32, val: u32) -> Result<(), Fault> {
        // SAFETY: The window is open (type invariant) and `uptr` is a user
        // address; a fault is caught by the exception table and reported.
        let ret = unsafe { bindings::rseq_unsafe_put_user_u32(val, uptr) };
        if ret != 0 {
            return Err(Fault);
        }
        Ok(())
    }

    /// Writes `val` to the user address `uptr` (see [`Self::write_u32_at`]).
    #[inline(always)]
    pub(crate) fn write_u64_at(&self, uptr: *mut u64, val: u64) -> Result<(), Fault> {
        // SAFETY: The window is open (type invariant) and `uptr` is a user
        // address; a fault is caught by the exception table and reported.
        let ret = unsafe { bindings::rseq_unsafe_put_user_u64(val, uptr) };
        if ret != 0 {
            return Err(Fault);
        }
        Ok(())
    }
}

impl Drop for UserWindow {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: The window is open (type invariant) and is closed once.
        unsafe { bindings::rseq_user_access_end() };
    }
}
