// SPDX-License-Identifier: GPL-2.0

//! Scoped user access windows with typed accesses bounded at build time.
//!
//! C header: [`include/linux/uaccess.h`](srctree/include/linux/uaccess.h)
//! (`scoped_user_rw_access()`, `scoped_user_read_access()`,
//! `unsafe_get_user()`, `unsafe_put_user()`, `get_user()`).
//!
//! A window is open only for the duration of a closure, which receives a
//! reference to it: nothing can keep it open (it cannot escape the closure
//! and there is nothing to leak) and, because opening one borrows the
//! [`UserAccessDisabled`] token mutably, nothing can open a second one
//! inside it. Accesses within the window are at offsets into the object
//! the window was opened on, checked against its size at build time, so
//! they stay in the range which the window's begin primitive checked (or
//! masked). An access outside that range is an `unsafe fn`.
//!
//! While a window is open nothing may be called that is not inlined
//! (objtool checks this on x86_64): every function here is
//! `#[inline(always)]`, the C helpers wrap one primitive each, and
//! `CONFIG_RSEQ_RUST` depends on `CONFIG_RUST_INLINE_HELPERS`.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use kernel::bindings;
use kernel::uaccess::UserPtr;

/// A user access that faulted and could not be resolved.
///
/// With page faults disabled (the fast path) any fault that needs the page
/// to be brought in ends here; with page faults enabled only accesses to
/// unmapped or protected memory do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault;

/// `TASK_SIZE` of the current task.
#[inline(always)]
pub(crate) fn task_size() -> TaskSize {
    // SAFETY: Reads the task size of the current task; no preconditions.
    TaskSize(unsafe { bindings::rseq_task_size() } as u64)
}

/// `TASK_SIZE`, as [`task_size`] read it: the bound below which an address
/// is a user address. Only [`task_size`] makes one, so code may rely on it.
#[derive(Clone, Copy)]
pub(crate) struct TaskSize(u64);

impl TaskSize {
    /// The value.
    #[inline(always)]
    pub(crate) fn get(self) -> u64 {
        self.0
    }
}

mod private {
    pub(crate) trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// A scalar which one user access moves: `u32` or `u64`.
pub(crate) trait UserScalar: private::Sealed + Copy {
    /// `unsafe_get_user()`.
    ///
    /// # Safety
    ///
    /// A user access window is open and the `size_of::<Self>()` bytes at
    /// `p` lie in the range the window covers, or in user space.
    unsafe fn get_in_window(p: *const Self) -> Result<Self, Fault>;

    /// `unsafe_put_user()`.
    ///
    /// # Safety
    ///
    /// As [`UserScalar::get_in_window`], and the window is writable.
    unsafe fn put_in_window(self, p: *mut Self) -> Result<(), Fault>;

    /// `get_user()`: checks `p` with `access_ok()` itself; may fault and
    /// sleep.
    ///
    /// # Safety
    ///
    /// No user access window is open (it would be closed by this one's
    /// end); [`UserAccessDisabled::get_user`] is the safe form.
    unsafe fn get_user(p: UserPtr) -> Result<Self, Fault>;
}

/// Implements [`UserScalar`] for a type with its helpers.
macro_rules! user_scalar {
    ($t:ty, $get:ident, $put:ident, $get_user:ident) => {
        impl UserScalar for $t {
            #[inline(always)]
            unsafe fn get_in_window(p: *const Self) -> Result<Self, Fault> {
                let mut val = 0;
                // SAFETY: A window covering `p` is open (caller guarantee);
                // a fault is caught by the exception table and reported.
                match unsafe { bindings::$get(&mut val, p) } {
                    0 => Ok(val),
                    _ => Err(Fault),
                }
            }

            #[inline(always)]
            unsafe fn put_in_window(self, p: *mut Self) -> Result<(), Fault> {
                // SAFETY: A writable window covering `p` is open (caller
                // guarantee); a fault is caught and reported.
                match unsafe { bindings::$put(self, p) } {
                    0 => Ok(()),
                    _ => Err(Fault),
                }
            }

            #[inline(always)]
            unsafe fn get_user(p: UserPtr) -> Result<Self, Fault> {
                let mut val = 0;
                // SAFETY: `get_user()` checks the address with `access_ok()`
                // and catches faults, so any value of `p` is fine; no window
                // is open (caller guarantee).
                match unsafe { bindings::$get_user(&mut val, p.as_const_ptr().cast()) } {
                    0 => Ok(val),
                    _ => Err(Fault),
                }
            }
        }
    };
}

user_scalar!(
    u32,
    rseq_unsafe_get_user_u32,
    rseq_unsafe_put_user_u32,
    rseq_get_user_u32
);
user_scalar!(
    u64,
    rseq_unsafe_get_user_u64,
    rseq_unsafe_put_user_u64,
    rseq_get_user_u64
);

/// A user address whose `LEN` bytes were checked with `access_ok()`.
///
/// # Invariants
///
/// The `LEN` bytes at `self.0` are user space addresses of the current
/// task: `access_ok(self.0, LEN)` held when they were checked, and the
/// address space cannot have shrunk below them since. (On arm64 a tagged
/// address may stop passing `access_ok()` when the task turns the tagged
/// address ABI off; the hardware ignores the tag of a user address, so the
/// access still goes to user space.)
#[derive(Clone, Copy)]
pub(crate) struct CheckedUserPtr<const LEN: usize>(UserPtr);

impl<const LEN: usize> CheckedUserPtr<LEN> {
    /// Wraps `p`, which was checked before.
    ///
    /// # Safety
    ///
    /// The `LEN` bytes at `p` are user space addresses of the current task
    /// (for instance `access_ok(p, LEN)` was checked when `p` was
    /// registered, and the address space cannot have changed since without
    /// `p` being forgotten).
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked(p: UserPtr) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(p)
    }

    /// The address.
    #[inline(always)]
    pub(crate) fn get(self) -> UserPtr {
        self.0
    }
}

/// Marks a window as readable only (`scoped_user_read_access()`).
pub(crate) enum Read {}
/// Marks a window as readable and writable (`scoped_user_rw_access()`).
pub(crate) enum ReadWrite {}

/// A window mode which can be written through.
pub(crate) trait Writable: private::Sealed {}
impl private::Sealed for ReadWrite {}
impl Writable for ReadWrite {}

/// Fails the build unless a `T` fits in a page: where user pointers are
/// masked instead of checked (x86_64), a pointer beyond the user address
/// space becomes the start of the guard page at its top, so only accesses
/// within a page of the window's start are sure to fault there.
#[inline(always)]
fn const_assert_small<T>() {
    kernel::const_assert!(
        size_of::<T>() <= bindings::PAGE_SIZE,
        "a user access window covers at most a page"
    );
}

/// Proof that no user access window is open in this context.
///
/// Opening a window borrows the token mutably until the window closes, so
/// the code inside cannot open another one. Not `Send`: the proof holds for
/// the context which made it.
///
/// # Invariants
///
/// While the token is not borrowed by an open window, no user access
/// window is open in the context which made it.
pub(crate) struct UserAccessDisabled(PhantomData<*mut ()>);

impl UserAccessDisabled {
    /// Makes the token.
    ///
    /// # Safety
    ///
    /// No user access window is open in the calling context, and no other
    /// [`UserAccessDisabled`] exists in it while the returned one lives.
    #[inline(always)]
    pub(crate) unsafe fn assume() -> Self {
        Self(PhantomData)
    }

    /// `get_user()` of the `U` at `p`, outside any window: checks `p` with
    /// `access_ok()` itself; may fault and sleep.
    #[inline(always)]
    pub(crate) fn get_user<U: UserScalar>(&mut self, p: UserPtr) -> Result<U, Fault> {
        // SAFETY: No window is open (type invariant of the token, which this
        // borrows).
        unsafe { U::get_user(p) }
    }

    /// Runs `f` with a read/write window on the `T` at `p`, as
    /// `scoped_user_rw_access(p, efault)`.
    ///
    /// Returns [`Fault`] (as `E`) without calling `f` if the range is
    /// rejected (architectures without pointer masking check it against
    /// `TASK_SIZE`). The window closes when `f` returns, whatever it
    /// returns.
    #[inline(always)]
    pub(crate) fn read_write<T, R, E: From<Fault>>(
        &mut self,
        p: UserPtr,
        f: impl InWindow<T, ReadWrite, Output = Result<R, E>>,
    ) -> Result<R, E> {
        const_assert_small::<T>();
        let mut base = p.as_mut_ptr();
        // SAFETY: The helper only opens the window and updates `base`; a
        // rejected range returns false and leaves the window closed.
        if !unsafe { bindings::rseq_user_rw_access_begin(&mut base, size_of::<T>()) } {
            return Err(Fault.into());
        }
        // INVARIANT: The window covers the `T` at `base`, which may be a
        // masked, faulting address (even NULL): accesses through it fault
        // and are reported.
        let w = UserWindow {
            base: base.cast(),
            _p: PhantomData,
        };
        let ret = f.run(&w);
        // SAFETY: Opened above; `w` is not used anymore.
        unsafe { bindings::rseq_user_access_end() };
        ret
    }

    /// Runs `f` with a read-only window on the `T` at `p`, as
    /// `scoped_user_read_access(p, efault)`. See [`Self::read_write`].
    #[inline(always)]
    pub(crate) fn read<T, R, E: From<Fault>>(
        &mut self,
        p: UserPtr,
        f: impl InWindow<T, Read, Output = Result<R, E>>,
    ) -> Result<R, E> {
        const_assert_small::<T>();
        let mut base = p.as_const_ptr();
        // SAFETY: As in `read_write()`, for a read window.
        if !unsafe { bindings::rseq_user_read_access_begin(&mut base, size_of::<T>()) } {
            return Err(Fault.into());
        }
        // INVARIANT: As in `read_write()`.
        let w = UserWindow {
            base: base.cast_mut().cast(),
            _p: PhantomData,
        };
        let ret = f.run(&w);
        // SAFETY: Opened above; `w` is not used anymore.
        unsafe { bindings::rseq_user_read_access_end() };
        ret
    }
}

/// The code which runs inside a window on a `T` in mode `M`.
///
/// Nothing may be called while the window is open, so [`InWindow::run`]
/// must be `#[inline(always)]`, and so must be what it calls: a trait
/// method is inlined for certain where a closure (or a function passed as
/// one) is inlined only where the compiler finds it worthwhile. objtool
/// reports a call with user access enabled on x86_64.
pub(crate) trait InWindow<T, M> {
    /// What the code returns; the window closes before it is returned.
    type Output;

    /// Runs inside the window `w`.
    fn run(self, w: &UserWindow<'_, T, M>) -> Self::Output;
}

/// Reads the `U` at byte offset `OFF` of the `T`: one access as an
/// [`InWindow`].
pub(crate) struct Get<U, const OFF: usize>(PhantomData<U>);

impl<U, const OFF: usize> Get<U, OFF> {
    /// The read.
    pub(crate) const NEW: Self = Self(PhantomData);
}

impl<T, M, U: UserScalar, const OFF: usize> InWindow<T, M> for Get<U, OFF> {
    type Output = Result<U, Fault>;

    #[inline(always)]
    fn run(self, w: &UserWindow<'_, T, M>) -> Result<U, Fault> {
        w.get::<U, OFF>()
    }
}

/// Writes a `U` at byte offset `OFF` of the `T`: one access as an
/// [`InWindow`]. (Only the KUnit tests use it so far.)
#[allow(dead_code)]
pub(crate) struct Put<U, const OFF: usize>(pub(crate) U);

impl<T, M: Writable, U: UserScalar, const OFF: usize> InWindow<T, M> for Put<U, OFF> {
    type Output = Result<(), Fault>;

    #[inline(always)]
    fn run(self, w: &UserWindow<'_, T, M>) -> Result<(), Fault> {
        w.put::<U, OFF>(self.0)
    }
}

/// An open user access window on a `T` in user space, in mode `M`
/// ([`Read`] or [`ReadWrite`]).
///
/// # Invariants
///
/// While the value lives, a user access window of mode `M` is open which
/// covers the `size_of::<T>()` bytes at `base` (the pointer the window's
/// begin primitive returned, masked on architectures which mask user
/// pointers).
pub(crate) struct UserWindow<'a, T, M> {
    base: *mut u8,
    _p: PhantomData<(&'a mut UserAccessDisabled, *const T, M)>,
}

impl<T, M> UserWindow<'_, T, M> {
    /// The address of the `U` at byte offset `OFF`, which the build checks
    /// to lie within the `T`, naturally aligned.
    #[inline(always)]
    fn field<U: UserScalar, const OFF: usize>(&self) -> *mut U {
        kernel::const_assert!(
            OFF + size_of::<U>() <= size_of::<T>() && OFF % align_of::<U>() == 0,
            "user access outside the window's object"
        );
        self.base.wrapping_add(OFF).cast()
    }

    /// Reads the `U` at byte offset `OFF` of the `T`.
    #[inline(always)]
    pub(crate) fn get<U: UserScalar, const OFF: usize>(&self) -> Result<U, Fault> {
        // SAFETY: The window covers the `T` (type invariant) and the field
        // lies within it (`field()`).
        unsafe { U::get_in_window(self.field::<U, OFF>()) }
    }

    /// Reads the `U` at the user address `p`, outside the window's range,
    /// with the window's user access (C does so for the signature in front
    /// of an abort handler).
    ///
    /// # Safety
    ///
    /// The `size_of::<U>()` bytes at `p` lie below `TASK_SIZE`.
    #[inline(always)]
    pub(crate) unsafe fn get_unchecked<U: UserScalar>(&self, p: UserPtr) -> Result<U, Fault> {
        // SAFETY: A window is open (type invariant) and `p` is in user
        // space (caller guarantee).
        unsafe { U::get_in_window(p.as_const_ptr().cast()) }
    }
}

impl<T, M: Writable> UserWindow<'_, T, M> {
    /// Writes `val` to the `U` at byte offset `OFF` of the `T`.
    #[inline(always)]
    pub(crate) fn put<U: UserScalar, const OFF: usize>(&self, val: U) -> Result<(), Fault> {
        // SAFETY: The writable window covers the `T` (type invariant) and
        // the field lies within it (`field()`).
        unsafe { val.put_in_window(self.field::<U, OFF>()) }
    }

    /// Writes `val` to the `U` at byte offset `OFF` of the `LEN` bytes at
    /// `p`, outside the window's range, with the window's user access (C
    /// does so for `rseq::rseq_cs` while evaluating a critical section).
    #[inline(always)]
    pub(crate) fn put_to<U: UserScalar, const OFF: usize, const LEN: usize>(
        &self,
        p: CheckedUserPtr<LEN>,
        val: U,
    ) -> Result<(), Fault> {
        kernel::const_assert!(
            OFF + size_of::<U>() <= LEN && OFF % align_of::<U>() == 0,
            "user access outside the checked range"
        );
        let p = p.get().wrapping_byte_add(OFF).as_mut_ptr();
        // SAFETY: A writable window is open (type invariant) and the field
        // lies in user space (`CheckedUserPtr` invariant and the assertion
        // above).
        unsafe { val.put_in_window(p.cast::<U>()) }
    }
}
