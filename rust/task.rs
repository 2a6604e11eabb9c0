// SPDX-License-Identifier: GPL-2.0

//! The rseq state of a task, the policy switches and the statistics.
//!
//! C headers: [`include/linux/rseq_types.h`](srctree/include/linux/rseq_types.h)
//! (`struct rseq_data`, `struct rseq_event`, `struct rseq_ids`) and
//! [`include/linux/rseq.h`](srctree/include/linux/rseq.h) (`rseq_v2()`, the
//! legacy policy).

use core::mem::{offset_of, size_of};
use core::ptr::{addr_of, addr_of_mut};
use kernel::bindings;
use kernel::cpu::CpuId;
use kernel::interrupt::LocalInterruptDisabled;
use kernel::task::CurrentTask;
use kernel::uaccess::window::CheckedUserPtr;
use kernel::uaccess::UserPtr;

/// `struct rseq_event` byte by byte, as the C code accesses it.
///
/// The scheduler, the membarrier IPI and the entry code write single bytes
/// of it, so the Rust code reads and writes the same bytes, never wider.
#[repr(C)]
struct EventBytes {
    sched_switch: u8,
    ids_changed: u8,
    user_irq: u8,
    _pad0: u8,
    has_rseq: u8,
    _pad1: u8,
    fatal: u8,
    slowpath: u8,
}

/// `struct rseq_ids` without the compound `cpu_cid` view.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) cpu_id: u32,
    pub(crate) mm_cid: u32,
    pub(crate) node_id: u32,
}

const _: () = {
    use bindings::rseq_event as E;
    assert!(size_of::<EventBytes>() == size_of::<E>());
    assert!(size_of::<Ids>() <= size_of::<bindings::rseq_ids>());
    // The bytes are where C has them.
    macro_rules! at {
        ($f:ident, $($path:tt)*) => {
            assert!(offset_of!(EventBytes, $f) == offset_of!(E, $($path)*));
        };
    }
    at!(
        sched_switch,
        __bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .sched_switch
    );
    at!(
        ids_changed,
        __bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .ids_changed
    );
    at!(
        user_irq,
        __bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_1
            .user_irq
    );
    at!(has_rseq, __bindgen_anon_1.__bindgen_anon_1.has_rseq);
    at!(
        fatal,
        __bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_2
            .__bindgen_anon_1
            .fatal
    );
    at!(
        slowpath,
        __bindgen_anon_1
            .__bindgen_anon_1
            .__bindgen_anon_2
            .__bindgen_anon_1
            .slowpath
    );
};

/// A `struct rseq_event::all` mask with the bytes at the given offsets set
/// to the given values, the others zero: what C builds with a compound
/// literal of `struct rseq_event`, whatever the byte order.
pub(crate) const fn event_mask(bytes: &[(usize, u8)]) -> u64 {
    let mut b = [0u8; size_of::<EventBytes>()];
    let mut i = 0;
    while i < bytes.len() {
        b[bytes[i].0] = bytes[i].1;
        i += 1;
    }
    u64::from_ne_bytes(b)
}

/// Byte offsets in `struct rseq_event`, for [`event_mask`].
pub(crate) mod event {
    use super::EventBytes;
    use core::mem::offset_of;

    pub(crate) const USER_IRQ: usize = offset_of!(EventBytes, user_irq);
    pub(crate) const HAS_RSEQ: usize = offset_of!(EventBytes, has_rseq);
}

/// The size of the original `struct rseq`, the smallest registration
/// (`ORIG_RSEQ_SIZE` in kernel/rseq.c): `access_ok()` held for it at
/// registration.
pub(crate) const ORIG_RSEQ_SIZE: usize = 32;

/// Byte offsets of the fields of the user space `struct rseq`.
pub(crate) mod urseq {
    use core::mem::offset_of;
    use kernel::bindings::rseq;

    pub(crate) const CPU_ID_START: usize = offset_of!(rseq, cpu_id_start);
    pub(crate) const CPU_ID: usize = offset_of!(rseq, cpu_id);
    pub(crate) const RSEQ_CS: usize = offset_of!(rseq, rseq_cs);
    pub(crate) const NODE_ID: usize = offset_of!(rseq, node_id);
    pub(crate) const MM_CID: usize = offset_of!(rseq, mm_cid);
    #[cfg(CONFIG_RSEQ_SLICE_EXTENSION)]
    pub(crate) const SLICE_CTRL: usize = offset_of!(rseq, slice_ctrl);
}

/// The current task and its rseq state.
///
/// A [`CurrentTask`] reference, so it cannot leave the task context (not
/// `Send`). The rseq state is only modified by the task itself on its way
/// to user space, or on its CPU with interrupts disabled (scheduler,
/// membarrier IPI), so plain accesses are what C does.
#[derive(Clone, Copy)]
pub(crate) struct Task<'a>(&'a CurrentTask);

impl<'a> Task<'a> {
    /// Wraps the task pointer handed in by the C code.
    ///
    /// # Safety
    ///
    /// `ptr` is `current`, and the returned value is not used after the
    /// caller returns to the C code which handed `ptr` in (the task context
    /// may end after that, see [`CurrentTask`]).
    #[inline(always)]
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::task_struct) -> Self {
        // CAST: `CurrentTask` is a transparent wrapper of `struct
        // task_struct`, as `kernel::task::Task::current()` relies on too.
        // SAFETY: `ptr` is the current task, valid for as long as the
        // caller uses the result (caller guarantee).
        Self(unsafe { &*ptr.cast::<CurrentTask>() })
    }

    #[inline(always)]
    fn ptr(self) -> *mut bindings::task_struct {
        self.0.as_ptr()
    }

    #[inline(always)]
    fn data(self) -> *mut bindings::rseq_data {
        // SAFETY: `ptr()` is the live current task.
        unsafe { addr_of_mut!((*self.ptr()).rseq) }
    }

    #[inline(always)]
    fn event(self) -> *mut EventBytes {
        // SAFETY: `data()` points into a live task.
        unsafe { addr_of_mut!((*self.data()).event).cast() }
    }

    /// The registered user space `struct rseq`, NULL if none.
    #[inline(always)]
    pub(crate) fn usr(self) -> UserPtr {
        // SAFETY: `data()` points into a live task.
        UserPtr::from_ptr(unsafe { (*self.data()).usrptr }.cast())
    }

    /// The registered user space `struct rseq`, with the range that
    /// registration checked.
    #[inline(always)]
    pub(crate) fn area(self) -> CheckedUserPtr<ORIG_RSEQ_SIZE> {
        // SAFETY: sys_rseq() stores `usrptr` only after `access_ok(rseq,
        // rseq_len)` with `rseq_len >= ORIG_RSEQ_SIZE`, or NULL (for which
        // `access_ok()` holds too); it is changed only by the task itself
        // (registration, unregistration, exec), and the address space of a
        // task changes only at exec, which clears it.
        unsafe { CheckedUserPtr::new_unchecked(self.usr()) }
    }

    /// The signature expected before abort handlers.
    #[inline(always)]
    pub(crate) fn sig(self) -> u32 {
        // SAFETY: `data()` points into a live task.
        unsafe { (*self.data()).sig }
    }

    /// The IDs last written to user space.
    #[inline(always)]
    pub(crate) fn ids(self) -> Ids {
        // SAFETY: `data()` points into a live task; `Ids` is a prefix of
        // `struct rseq_ids` (checked at build time).
        unsafe { addr_of!((*self.data()).ids).cast::<Ids>().read() }
    }

    #[inline(always)]
    pub(crate) fn set_ids(self, ids: &Ids) {
        // SAFETY: As in `ids()`.
        unsafe { addr_of_mut!((*self.data()).ids).cast::<Ids>().write(*ids) }
    }

    #[inline(always)]
    pub(crate) fn flags(self) -> u32 {
        // SAFETY: `ptr()` is the live current task.
        unsafe { (*self.ptr()).flags }
    }

    /// The CPU the task runs on, as `task_cpu()`: stable while interrupts
    /// are disabled (`_irq`).
    #[inline(always)]
    pub(crate) fn cpu(self, _irq: &LocalInterruptDisabled) -> CpuId {
        // SAFETY: `ptr()` is a live task, and `task_cpu()` of a task is a
        // valid CPU ID.
        unsafe { CpuId::from_u32_unchecked(bindings::task_cpu(self.ptr())) }
    }

    /// The MM concurrency ID, as `task_mm_cid()`.
    #[inline(always)]
    pub(crate) fn mm_cid(self) -> u32 {
        // SAFETY: `ptr()` is a live task.
        unsafe { bindings::task_mm_cid(self.ptr()) as u32 }
    }

    #[inline(always)]
    pub(crate) fn as_ptr(self) -> *mut bindings::task_struct {
        self.ptr()
    }
}

/// Generates a getter for one byte of `struct rseq_event`.
macro_rules! event_get {
    ($($get:ident),*) => {
        impl Task<'_> {$(
            #[inline(always)]
            pub(crate) fn $get(self) -> u8 {
                // SAFETY: `event()` points into a live task.
                unsafe { addr_of!((*self.event()).$get).read() }
            }
        )*}
    };
}

/// Generates a setter for one byte of `struct rseq_event`.
macro_rules! event_set {
    ($($set:ident: $field:ident),*) => {
        impl Task<'_> {$(
            #[inline(always)]
            pub(crate) fn $set(self, val: u8) {
                // SAFETY: `event()` points into a live task.
                unsafe { addr_of_mut!((*self.event()).$field).write(val) }
            }
        )*}
    };
}

event_get!(sched_switch, ids_changed, user_irq, has_rseq);

/// Accessors for the KUnit tests only.
#[cfg(CONFIG_KUNIT = "y")]
impl Task<'_> {
    pub(crate) fn set_has_rseq_for_test(self, val: u8) {
        // SAFETY: `event()` points into a live task.
        unsafe { addr_of_mut!((*self.event()).has_rseq).write(val) }
    }

    pub(crate) fn set_user_irq_for_test(self, val: u8) {
        // SAFETY: `event()` points into a live task.
        unsafe { addr_of_mut!((*self.event()).user_irq).write(val) }
    }

    pub(crate) fn fatal_for_test(self) -> u8 {
        // SAFETY: `event()` points into a live task.
        unsafe { addr_of!((*self.event()).fatal).read() }
    }
}
event_set!(set_sched_switch: sched_switch, set_ids_changed: ids_changed, set_fatal: fatal);

impl Task<'_> {
    /// `rseq_event::error = 0`: clears `fatal` and `slowpath` in one store.
    #[inline(always)]
    pub(crate) fn clear_error(self) {
        // SAFETY: `event()` points into a live task; `error` is the u16 at
        // offset 6, naturally aligned.
        unsafe {
            self.event()
                .cast::<u8>()
                .add(offset_of!(EventBytes, fatal))
                .cast::<u16>()
                .write(0)
        }
    }

    /// `rseq_event::all &= mask`.
    #[inline(always)]
    pub(crate) fn mask_events(self, mask: u64) {
        // SAFETY: `event()` points into a live task; `all` is an aligned u64.
        unsafe {
            let all = self.event().cast::<u64>();
            all.write(all.read() & mask);
        }
    }

    /// `rseq_v2()`: an RSEQ ABI V2 registration.
    #[inline(always)]
    pub(crate) fn v2(self) -> bool {
        cfg!(CONFIG_GENERIC_IRQ_ENTRY) && self.has_rseq() > 1
    }

    /// `rseq_legacy_optimized()`.
    #[inline(always)]
    pub(crate) fn legacy_optimized(self) -> bool {
        cfg!(CONFIG_GENERIC_IRQ_ENTRY) && keys::legacy_optimized() && self.has_rseq() == 1
    }

    /// `rseq_optimized_policy()`.
    #[inline(always)]
    pub(crate) fn optimized_policy(self) -> bool {
        self.v2() || self.legacy_optimized()
    }

    /// `rseq_legacy_cs_reset()`.
    #[inline(always)]
    pub(crate) fn legacy_cs_reset(self) -> bool {
        cfg!(CONFIG_GENERIC_IRQ_ENTRY) && keys::legacy_cs_reset() && self.has_rseq() == 1
    }

    /// `rseq_legacy_fence_reset()`.
    #[inline(always)]
    pub(crate) fn legacy_fence_reset(self) -> bool {
        cfg!(CONFIG_GENERIC_IRQ_ENTRY)
            && cfg!(CONFIG_SCHED_MM_CID)
            && keys::legacy_fence_reset()
            && self.has_rseq() == 1
    }

    /// `rseq_force_update()`.
    #[inline(always)]
    pub(crate) fn force_update(self) {
        if self.has_rseq() != 0 {
            self.set_ids_changed(1);
            self.set_sched_switch(1);
            // SAFETY: `ptr()` is a live task.
            unsafe { bindings::rseq_raise_notify_resume(self.ptr()) };
        }
    }

    /// `rseq_slice_clear_grant()`, counting in the context `_ctx`.
    #[inline(always)]
    pub(crate) fn slice_clear_grant(self, _ctx: impl stats::Context) {
        #[cfg(CONFIG_RSEQ_SLICE_EXTENSION)]
        // SAFETY: `data()` points into a live task.
        unsafe {
            let granted = addr_of_mut!((*self.data()).slice.state.__bindgen_anon_1.granted);
            if cfg!(CONFIG_RSEQ_STATS) && granted.read() != 0 {
                _ctx.inc(stats::Stat::SRevoked);
            }
            granted.write(0);
        }
    }
}

/// The static keys of `kernel/rseq.c`.
pub(crate) mod keys {
    use core::ptr::addr_of;
    use kernel::bindings;

    /// Reads a static key as `static_key_count() > 0`, for the keys which
    /// are a `static_key_true` in this configuration:
    /// `kernel::static_branch_unlikely!` takes only a `static_key_false`
    /// (C uses `arch_static_branch_jump()` for a true key, which Rust does
    /// not have). Unused in the other configurations (hence `allow`).
    ///
    /// # Safety
    ///
    /// `key` points to a static key defined by C.
    #[allow(dead_code)]
    #[inline(always)]
    unsafe fn count(key: *const bindings::static_key) -> bool {
        // SAFETY: `key` is a static key (caller guarantee); `enabled` is an
        // atomic_t, read as `static_key_count()` does.
        unsafe { core::ptr::read_volatile(addr_of!((*key).enabled.counter)) > 0 }
    }

    /// `static_branch_unlikely(&rseq_debug_enabled)`.
    #[inline(always)]
    pub(crate) fn debug() -> bool {
        #[cfg(not(CONFIG_RSEQ_DEBUG_DEFAULT_ENABLE))]
        // SAFETY: `rseq_debug_enabled` is a `static_key_false` defined by C
        // in this configuration.
        return unsafe { kernel::static_branch_unlikely!(bindings::rseq_debug_enabled) };
        #[cfg(CONFIG_RSEQ_DEBUG_DEFAULT_ENABLE)]
        // SAFETY: `rseq_debug_enabled` is a static key defined by C.
        return unsafe { count(addr_of!(bindings::rseq_debug_enabled.key)) };
    }

    /// `static_branch_unlikely(&rseq_legacy_optimized_key)`.
    #[inline(always)]
    pub(crate) fn legacy_optimized() -> bool {
        #[cfg(not(CONFIG_RSEQ_LEGACY_OPTIMIZED_DEFAULT))]
        // SAFETY: A `static_key_false` defined by C in this configuration.
        return unsafe { kernel::static_branch_unlikely!(bindings::rseq_legacy_optimized_key) };
        #[cfg(CONFIG_RSEQ_LEGACY_OPTIMIZED_DEFAULT)]
        // SAFETY: A static key defined by C.
        return unsafe { count(addr_of!(bindings::rseq_legacy_optimized_key.key)) };
    }

    /// `static_branch_unlikely(&rseq_legacy_cs_reset_key)`.
    #[inline(always)]
    pub(crate) fn legacy_cs_reset() -> bool {
        #[cfg(not(CONFIG_RSEQ_LEGACY_CS_RESET_DEFAULT))]
        // SAFETY: A `static_key_false` defined by C in this configuration.
        return unsafe { kernel::static_branch_unlikely!(bindings::rseq_legacy_cs_reset_key) };
        #[cfg(CONFIG_RSEQ_LEGACY_CS_RESET_DEFAULT)]
        // SAFETY: A static key defined by C.
        return unsafe { count(addr_of!(bindings::rseq_legacy_cs_reset_key.key)) };
    }

    /// `static_branch_unlikely(&rseq_legacy_fence_reset_key)`.
    #[inline(always)]
    pub(crate) fn legacy_fence_reset() -> bool {
        // SAFETY: A `static_key_false` defined by C in every configuration.
        unsafe { kernel::static_branch_unlikely!(bindings::rseq_legacy_fence_reset_key) }
    }

    /// `rseq_slice_extension_enabled()`.
    #[cfg(CONFIG_RSEQ_SLICE_EXTENSION)]
    #[inline(always)]
    pub(crate) fn slice_extension() -> bool {
        // SAFETY: A static key defined by C.
        unsafe { count(addr_of!(bindings::rseq_slice_extension_key.key)) }
    }
}

/// `struct rseq_stats`, as `rseq_stat_inc()`.
pub(crate) mod stats {
    #[cfg(CONFIG_GENERIC_ENTRY)]
    use core::marker::PhantomData;
    #[cfg(CONFIG_GENERIC_ENTRY)]
    use kernel::interrupt::LocalInterruptDisabled;

    /// The counters which the exit work increments. Without
    /// CONFIG_RSEQ_STATS (or the slice extension) some are never read, so
    /// `allow`, not `expect`, which would be unfulfilled otherwise.
    #[allow(dead_code)]
    #[derive(Clone, Copy)]
    pub(crate) enum Stat {
        Signal,
        Slowpath,
        Ids,
        Cs,
        Clear,
        Fixup,
        SRevoked,
    }

    /// Where the exit work runs, as C's `RSEQ_BUILD_SLOW_PATH` split,
    /// which decides how the statistics count.
    pub(crate) trait Context: Copy {
        /// Increments a counter.
        fn inc(self, stat: Stat);
    }

    /// Interrupts disabled (the generic entry fast path): `raw_cpu_inc()`.
    #[cfg(CONFIG_GENERIC_ENTRY)]
    #[derive(Clone, Copy)]
    pub(crate) struct Fast<'a>(PhantomData<&'a LocalInterruptDisabled>);

    #[cfg(CONFIG_GENERIC_ENTRY)]
    impl<'a> Fast<'a> {
        /// The context while `_irq` proves interrupts disabled.
        #[inline(always)]
        pub(crate) fn new(_irq: &'a LocalInterruptDisabled) -> Self {
            Self(PhantomData)
        }
    }

    /// Preemptible (the TIF_NOTIFY_RESUME slow path, signal delivery, the
    /// out-of-line debug checks): `this_cpu_inc()`.
    #[derive(Clone, Copy)]
    pub(crate) struct Slow;

    /// The counter of `stat` in `struct rseq_stats` (per-CPU offset not
    /// applied).
    #[cfg(CONFIG_RSEQ_STATS)]
    #[inline(always)]
    fn counter(stat: Stat) -> *mut kernel::ffi::c_ulong {
        use core::ptr::addr_of_mut;
        use kernel::bindings::rseq_stats as s;
        // SAFETY: Only the addresses of the fields of the per-CPU variable
        // `rseq_stats` defined by C are taken.
        unsafe {
            match stat {
                Stat::Signal => addr_of_mut!(s.signal),
                Stat::Slowpath => addr_of_mut!(s.slowpath),
                Stat::Ids => addr_of_mut!(s.ids),
                Stat::Cs => addr_of_mut!(s.cs),
                Stat::Clear => addr_of_mut!(s.clear),
                Stat::Fixup => addr_of_mut!(s.fixup),
                Stat::SRevoked => addr_of_mut!(s.s_revoked),
            }
        }
    }

    #[cfg(CONFIG_GENERIC_ENTRY)]
    impl Context for Fast<'_> {
        #[inline(always)]
        fn inc(self, _stat: Stat) {
            #[cfg(CONFIG_RSEQ_STATS)]
            // SAFETY: A counter of the per-CPU `rseq_stats`; interrupts are
            // disabled (`Fast` holds the proof), so the CPU cannot change
            // under the increment.
            unsafe {
                kernel::bindings::rseq_stat_raw_inc(counter(_stat))
            };
        }
    }

    impl Context for Slow {
        #[inline(always)]
        fn inc(self, _stat: Stat) {
            #[cfg(CONFIG_RSEQ_STATS)]
            // SAFETY: A counter of the per-CPU `rseq_stats`;
            // `this_cpu_inc()` is safe in any context.
            unsafe {
                kernel::bindings::rseq_stat_this_inc(counter(_stat))
            };
        }
    }
}

/// The tracepoints, as `rseq_trace_update()` and `rseq_trace_ip_fixup()`.
pub(crate) mod trace {
    use super::Task;
    // Unused without CONFIG_TRACEPOINTS.
    #[allow(unused_imports)]
    use kernel::bindings;

    /// Whether the `rseq_update` tracepoint is on.
    #[inline(always)]
    pub(crate) fn update_enabled() -> bool {
        #[cfg(CONFIG_TRACEPOINTS)]
        // SAFETY: `__tracepoint_rseq_update` is a tracepoint defined by C.
        return unsafe {
            kernel::static_branch_unlikely!(
                bindings::__tracepoint_rseq_update,
                bindings::tracepoint,
                key
            )
        };
        #[cfg(not(CONFIG_TRACEPOINTS))]
        false
    }

    #[inline(always)]
    pub(crate) fn update(_t: Task<'_>) {
        if update_enabled() {
            #[cfg(CONFIG_TRACEPOINTS)]
            // SAFETY: `__rseq_trace_update()` takes a live task.
            unsafe {
                bindings::__rseq_trace_update(_t.as_ptr())
            };
        }
    }

    #[inline(always)]
    pub(crate) fn ip_fixup(_ip: u64, _start_ip: u64, _offset: u64, _abort_ip: u64) {
        #[cfg(CONFIG_TRACEPOINTS)]
        // SAFETY: `__tracepoint_rseq_ip_fixup` is a tracepoint defined by C.
        unsafe {
            if kernel::static_branch_unlikely!(
                bindings::__tracepoint_rseq_ip_fixup,
                bindings::tracepoint,
                key
            ) {
                bindings::__rseq_trace_ip_fixup(
                    _ip as usize,
                    _start_ip as usize,
                    _offset as usize,
                    _abort_ip as usize,
                );
            }
        }
    }
}
