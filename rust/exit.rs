// SPDX-License-Identifier: GPL-2.0

//! The exit to user space work: ID updates, fast path, slow path, signal
//! delivery and the debug syscall return check.
//!
//! C header: [`include/linux/rseq_entry.h`](srctree/include/linux/rseq_entry.h)
//! (`rseq_set_ids_get_csaddr()`, `rseq_update_usr()`,
//! `rseq_exit_user_update()`) and `kernel/rseq.c`
//! (`rseq_slowpath_update_usr()`, `__rseq_signal_deliver()`,
//! `__rseq_debug_syscall_return()`).

use crate::cs::{self, UserRegs};
#[cfg(CONFIG_GENERIC_ENTRY)]
use crate::task::stats::Fast;
use crate::task::stats::{Context, Slow, Stat};
use crate::task::{event, event_mask, keys, trace, urseq, Ids, Task};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::cpu::CpuId;
use kernel::interrupt::LocalInterruptDisabled;
use kernel::uaccess::window::{
    task_size, Fault, Get, InWindow, ReadWrite, UserAccessDisabled, UserWindow,
};
#[cfg(CONFIG_GENERIC_ENTRY)]
use kernel::uaccess::{pagefault_disable, PagefaultDisabled};

/// A window on the user space `struct rseq`.
type RseqWindow<'a> = UserWindow<'a, bindings::rseq, ReadWrite>;

/// Why writing the IDs failed.
enum IdsError {
    /// A read-only field was modified by user space (C's `die:`).
    Corrupted,
    /// A user access faulted (C's `efault:`).
    Fault,
}

impl From<Fault> for IdsError {
    #[inline(always)]
    fn from(_: Fault) -> Self {
        IdsError::Fault
    }
}

/// `rseq_slice_clear_user()`, inside the caller's window.
#[inline(always)]
fn slice_clear_user(_w: &RseqWindow<'_>) -> Result<(), Fault> {
    #[cfg(CONFIG_RSEQ_SLICE_EXTENSION)]
    if keys::slice_extension() {
        _w.put::<u32, { urseq::SLICE_CTRL }>(0)?;
    }
    Ok(())
}

/// `rseq_set_ids_get_csaddr()`: writes the four ID fields and reads
/// `rseq_cs` in one user access window.
///
/// In debug mode and for RSEQ ABI V2 registrations the read-only fields
/// must still hold what the kernel wrote last. Costs four 32-bit stores
/// and one 64-bit load, plus four 32-bit loads where the read-only fields
/// are checked.
///
/// # Context
///
/// As [`cs::update`].
#[inline(always)]
fn set_ids_get_csaddr(
    ctx: impl Context,
    ua: &mut UserAccessDisabled,
    t: Task<'_>,
    ids: &Ids,
) -> Result<u64, IdsError> {
    let csaddr = ua.read_write(t.usr(), SetIdsGetCsaddr(t, ids))?;

    t.slice_clear_grant(ctx);
    t.set_ids(ids);
    ctx.inc(Stat::Ids);
    Ok(csaddr)
}

/// The body of [`set_ids_get_csaddr`], inside the window.
struct SetIdsGetCsaddr<'a>(Task<'a>, &'a Ids);

impl InWindow<bindings::rseq, ReadWrite> for SetIdsGetCsaddr<'_> {
    type Output = Result<u64, IdsError>;

    #[inline(always)]
    fn run(self, w: &RseqWindow<'_>) -> Result<u64, IdsError> {
        let SetIdsGetCsaddr(t, ids) = self;
        if keys::debug() || t.v2() {
            let cached = t.ids();
            let cpu_id = w.get::<u32, { urseq::CPU_ID_START }>()?;
            if cpu_id != cached.cpu_id {
                return Err(IdsError::Corrupted);
            }
            if w.get::<u32, { urseq::CPU_ID }>()? != cpu_id {
                return Err(IdsError::Corrupted);
            }
            if w.get::<u32, { urseq::NODE_ID }>()? != cached.node_id {
                return Err(IdsError::Corrupted);
            }
            if w.get::<u32, { urseq::MM_CID }>()? != cached.mm_cid {
                return Err(IdsError::Corrupted);
            }
        }

        w.put::<u32, { urseq::CPU_ID_START }>(ids.cpu_id)?;
        w.put::<u32, { urseq::CPU_ID }>(ids.cpu_id)?;
        w.put::<u32, { urseq::NODE_ID }>(ids.node_id)?;
        w.put::<u32, { urseq::MM_CID }>(ids.mm_cid)?;
        let csaddr = w.get::<u64, { urseq::RSEQ_CS }>()?;

        // RSEQ ABI V2 only.
        if t.v2() {
            slice_clear_user(w)?;
        }
        Ok(csaddr)
    }
}

/// Whether [`update_usr`] must evaluate the critical section at `csaddr`
/// after the ID update: only if the task was interrupted in user mode (or
/// debug mode is on, or the architecture does not track that).
#[inline(always)]
fn cs_needed(t: Task<'_>, csaddr: u64) -> bool {
    // No side effects: the cheapest test, and the likely outcome, first.
    csaddr != 0 && (!cfg!(CONFIG_GENERIC_IRQ_ENTRY) || keys::debug() || t.user_irq() != 0)
}

/// `rseq_update_usr()`: updates the IDs, then evaluates the critical
/// section if there is one and the task was interrupted in user mode (or
/// debug mode is on, or the architecture does not track that).
///
/// Returns `true` on success. On failure `fatal` is set if user space
/// data was invalid and clear if a fault was not resolved.
///
/// # Context
///
/// As [`cs::update`].
#[inline(always)]
pub(crate) fn update_usr(
    ctx: impl Context,
    ua: &mut UserAccessDisabled,
    t: Task<'_>,
    regs: UserRegs<'_>,
    ids: &Ids,
) -> bool {
    let csaddr = match set_ids(ctx, ua, t, ids) {
        Some(csaddr) => csaddr,
        None => return false,
    };
    trace::update(t);
    if !cs_needed(t, csaddr) {
        return true;
    }
    cs::update(ctx, ua, t, regs, csaddr)
}

/// [`set_ids_get_csaddr`] with C's error handling: `None` on failure,
/// with `fatal` set if user space corrupted a read-only field.
#[inline(always)]
fn set_ids(ctx: impl Context, ua: &mut UserAccessDisabled, t: Task<'_>, ids: &Ids) -> Option<u64> {
    match set_ids_get_csaddr(ctx, ua, t, ids) {
        Ok(csaddr) => Some(csaddr),
        Err(IdsError::Corrupted) => {
            t.set_fatal(1);
            None
        }
        Err(IdsError::Fault) => None,
    }
}

/// `rseq_exit_user_update()`: the generic entry fast path.
///
/// Without changed IDs: one 64-bit load of `rseq_cs` (and the critical
/// section evaluation if it is set). With changed IDs: see
/// [`set_ids_get_csaddr`].
///
/// Returns `false` on a fault or invalid data; the caller then raises
/// TIF_NOTIFY_RESUME and the slow path handles it.
///
/// # Safety
///
/// `t` must be `current` and `regs` its user register frame, which nothing
/// else writes during the call (the `struct rseq_impl` contract); no user
/// access window is open.
///
/// # Context
///
/// Exit to user space, interrupts disabled.
#[cfg(CONFIG_GENERIC_ENTRY)]
pub(crate) unsafe extern "C" fn exit_user_update(
    regs: *mut bindings::pt_regs,
    t: *mut bindings::task_struct,
) -> bool {
    // SAFETY: `t` is current (caller guarantee).
    let t = unsafe { Task::from_raw(t) };
    // SAFETY: The caller opened no window, and this is the only token.
    let mut ua = unsafe { UserAccessDisabled::assume() };
    // SAFETY: The entry code calls this with interrupts disabled, and they
    // stay disabled until it returns.
    let irq = unsafe { LocalInterruptDisabled::assume_disabled() };
    let ctx = Fast::new(irq);
    // Interrupts are disabled: faults must not be resolved here.
    let pf = pagefault_disable();

    if t.ids_changed() == 0 {
        // IDs have not changed, so user_irq is set (see
        // rseq_sched_switch_event()).
        let csaddr = match read_csaddr_clear_slice(&mut ua, t) {
            Ok(csaddr) => csaddr,
            Err(Fault) => return false,
        };
        t.slice_clear_grant(ctx);

        if keys::debug() || csaddr != 0 {
            // SAFETY: `regs` is the user frame of `t` (caller guarantee).
            let regs = unsafe { UserRegs::from_raw(NonNull::new_unchecked(regs)) };
            return fast_cs(pf, ua, ctx, t, regs, csaddr);
        }
        return true;
    }

    let cpu = t.cpu(irq);
    let ids = Ids {
        cpu_id: cpu.as_u32(),
        mm_cid: t.mm_cid(),
        node_id: cpu_to_node(cpu),
    };
    // update_usr(), with the tracepoint call and the critical section in
    // the out-of-line tail: the common case, IDs written and no section,
    // then needs no callee-saved register (C inlines all of this into the
    // exit path; a called function pays its own prologue).
    let csaddr = match set_ids(ctx, &mut ua, t, &ids) {
        Some(csaddr) => csaddr,
        None => return false,
    };
    if trace::update_enabled() {
        // SAFETY: `regs` is the user frame of `t` (caller guarantee).
        let regs = unsafe { UserRegs::from_raw(NonNull::new_unchecked(regs)) };
        return fast_traced(pf, ua, ctx, t, regs, csaddr);
    }
    if cs_needed(t, csaddr) {
        // SAFETY: `regs` is the user frame of `t` (caller guarantee).
        let regs = unsafe { UserRegs::from_raw(NonNull::new_unchecked(regs)) };
        return fast_cs(pf, ua, ctx, t, regs, csaddr);
    }
    true
}

/// The rare ends of [`exit_user_update`]: the critical section evaluation,
/// out of line and reached by a tail call, so that the common path of the
/// caller saves no register (C inlines all of this into the exit path,
/// where the registers are saved already; a called function pays its own
/// prologue).
///
/// # Context
///
/// As [`exit_user_update`], whose page fault guard `_pf` ends here.
#[cfg(CONFIG_GENERIC_ENTRY)]
#[cold]
#[inline(never)]
fn fast_cs(
    _pf: PagefaultDisabled,
    mut ua: UserAccessDisabled,
    ctx: Fast<'_>,
    t: Task<'_>,
    regs: UserRegs<'_>,
    csaddr: u64,
) -> bool {
    cs::update(ctx, &mut ua, t, regs, csaddr)
}

/// The `rseq_update` tracepoint after an ID update on the fast path, then
/// [`fast_cs`] if the critical section needs evaluating.
///
/// # Context
///
/// As [`fast_cs`].
#[cfg(CONFIG_GENERIC_ENTRY)]
#[cold]
#[inline(never)]
fn fast_traced(
    pf: PagefaultDisabled,
    ua: UserAccessDisabled,
    ctx: Fast<'_>,
    t: Task<'_>,
    regs: UserRegs<'_>,
    csaddr: u64,
) -> bool {
    trace::update(t);
    if !cs_needed(t, csaddr) {
        return true;
    }
    fast_cs(pf, ua, ctx, t, regs, csaddr)
}

#[cfg(CONFIG_GENERIC_ENTRY)]
#[inline(always)]
fn read_csaddr_clear_slice(ua: &mut UserAccessDisabled, t: Task<'_>) -> Result<u64, Fault> {
    ua.read_write(t.usr(), ReadCsaddrClearSlice(t))
}

/// The body of [`read_csaddr_clear_slice`], inside the window.
#[cfg(CONFIG_GENERIC_ENTRY)]
struct ReadCsaddrClearSlice<'a>(Task<'a>);

#[cfg(CONFIG_GENERIC_ENTRY)]
impl InWindow<bindings::rseq, ReadWrite> for ReadCsaddrClearSlice<'_> {
    type Output = Result<u64, Fault>;

    #[inline(always)]
    fn run(self, w: &RseqWindow<'_>) -> Result<u64, Fault> {
        let csaddr = w.get::<u64, { urseq::RSEQ_CS }>()?;
        if self.0.v2() {
            slice_clear_user(w)?;
        }
        Ok(csaddr)
    }
}

/// `cpu_to_node()`.
#[inline(always)]
pub(crate) fn cpu_to_node(cpu: CpuId) -> u32 {
    // SAFETY: `cpu` is a valid CPU ID (type invariant).
    unsafe { bindings::cpu_to_node(cpu.as_u32() as i32) as u32 }
}

/// Runs `f` with interrupts disabled, as `scoped_guard(irq)`; the proof
/// handed to `f` cannot outlive the scope.
///
/// # Safety
///
/// Interrupts are enabled on entry (they are enabled again at the end).
#[inline(always)]
pub(crate) unsafe fn irqs_disabled<R>(f: impl FnOnce(&LocalInterruptDisabled) -> R) -> R {
    // SAFETY: Enabled on entry (caller guarantee), enabled again below.
    unsafe { bindings::local_irq_disable() };
    // SAFETY: Disabled from the line above until `f` has returned, and `f`
    // cannot keep the reference (its lifetime is the closure call's).
    let r = f(unsafe { LocalInterruptDisabled::assume_disabled() });
    // SAFETY: Paired with the disable above.
    unsafe { bindings::local_irq_enable() };
    r
}

/// `rseq_event` bits kept by the slow path: `has_rseq` (all of it, it is
/// the ABI version) and `user_irq`.
pub(crate) const SLOWPATH_EVENT_MASK: u64 =
    event_mask(&[(event::HAS_RSEQ, 0xff), (event::USER_IRQ, 1)]);

/// `__rseq_handle_slowpath()`: the TIF_NOTIFY_RESUME work, the only path
/// on architectures without generic entry.
///
/// Reads and clears the pending event with interrupts disabled, then
/// writes the IDs and evaluates the critical section with page faults
/// allowed. Failure kills the task with SIGSEGV.
///
/// # Safety
///
/// `regs` is NULL (called from a hypervisor before entering a guest) or
/// the user register frame of the current task, which nothing else writes
/// during the call; no user access window is open.
///
/// # Context
///
/// Task context on the way to user space, preemptible.
pub(crate) unsafe extern "C" fn handle_slowpath(regs: *mut bindings::pt_regs) {
    let Some(regs) = NonNull::new(regs) else {
        return;
    };
    // SAFETY: The user frame of the current task (caller guarantee).
    let regs = unsafe { UserRegs::from_raw(regs) };
    // SAFETY: The caller opened no window, and this is the only token.
    let mut ua = unsafe { UserAccessDisabled::assume() };
    // SAFETY: `current`, used only until this function returns.
    let t = unsafe { Task::from_raw(kernel::task::Task::current_raw()) };
    if t.flags() & bindings::PF_EXITING != 0 {
        return;
    }
    Slow.inc(Stat::Slowpath);

    // Read and clear the event with interrupts disabled: a preemption
    // right after sets TIF_NOTIFY_RESUME again and brings us back here.
    // SAFETY: The slow path runs with interrupts enabled.
    let (event, cpu_id, mm_cid) = unsafe {
        irqs_disabled(|irq| {
            let event = t.sched_switch();
            t.mask_events(SLOWPATH_EVENT_MASK);
            (event, t.cpu(irq), t.mm_cid())
        })
    };

    if event == 0 {
        return;
    }
    let ids = Ids {
        cpu_id: cpu_id.as_u32(),
        mm_cid,
        node_id: cpu_to_node(cpu_id),
    };
    if !update_usr(Slow, &mut ua, t, regs, &ids) {
        // Clear the errors, in case this survives magically.
        t.clear_error();
        // SAFETY: Signals the current task.
        unsafe { bindings::force_sig(bindings::SIGSEGV as i32) };
    }
}

/// `rseq_handle_cs()`: reads `rseq_cs` in a read-only window and
/// evaluates it.
#[inline(always)]
fn handle_cs(ua: &mut UserAccessDisabled, t: Task<'_>, regs: UserRegs<'_>) -> bool {
    let csaddr = match ua.read::<bindings::rseq, _, _>(t.usr(), Get::<u64, { urseq::RSEQ_CS }>::NEW)
    {
        Ok(csaddr) => csaddr,
        Err(Fault) => return false,
    };
    if csaddr == 0 {
        return true;
    }
    cs::update(Slow, ua, t, regs, csaddr)
}

/// `__rseq_signal_deliver()`: aborts the critical section of the
/// interrupted context before the instruction pointer moves to the signal
/// handler. IDs are left to the exit path, except that legacy
/// registrations under the `historic` and `fence_reset` policies get a
/// forced update.
///
/// # Safety
///
/// `regs` is the user register frame of the current task, which nothing
/// else writes during the call; no user access window is open.
///
/// # Context
///
/// Signal delivery, preemptible.
pub(crate) unsafe extern "C" fn signal_deliver(sig: i32, regs: *mut bindings::pt_regs) {
    // SAFETY: The user frame of the current task (caller guarantee).
    let regs = unsafe { UserRegs::from_raw(NonNull::new_unchecked(regs)) };
    // SAFETY: The caller opened no window, and this is the only token.
    let mut ua = unsafe { UserAccessDisabled::assume() };
    // SAFETY: `current`, used only until this function returns.
    let t = unsafe { Task::from_raw(kernel::task::Task::current_raw()) };
    Slow.inc(Stat::Signal);

    if !handle_cs(&mut ua, t, regs) {
        t.clear_error();
        // SAFETY: Signals the current task.
        unsafe { bindings::force_sigsegv(sig) };
    }

    if !t.optimized_policy() || t.legacy_fence_reset() {
        t.force_update();
    }
}

/// `__rseq_debug_syscall_return()`: kills the task if it issued a system
/// call inside a critical section, or if its descriptor is invalid.
///
/// # Safety
///
/// `regs` is the user register frame of the current task, which nothing
/// else writes during the call; no user access window is open.
///
/// # Context
///
/// System call return with debug mode on, preemptible.
pub(crate) unsafe extern "C" fn debug_syscall_return(regs: *mut bindings::pt_regs) {
    // SAFETY: The user frame of the current task (caller guarantee).
    let regs = unsafe { UserRegs::from_raw(NonNull::new_unchecked(regs)) };
    // SAFETY: The caller opened no window, and this is the only token.
    let mut ua = unsafe { UserAccessDisabled::assume() };
    // SAFETY: `current`, used only until this function returns.
    let t = unsafe { Task::from_raw(kernel::task::Task::current_raw()) };
    if t.has_rseq() == 0 {
        return;
    }
    // get_user(), as C: checks the 8 bytes only, and that it may fault.
    let ok = match ua.get_user::<u64>(t.usr().wrapping_byte_add(urseq::RSEQ_CS)) {
        Ok(0) => true,
        Ok(csaddr) if csaddr >= task_size().get() => false,
        Ok(csaddr) => cs::debug_update(&mut ua, t, regs, csaddr),
        Err(Fault) => false,
    };
    if !ok {
        // SAFETY: Signals the current task.
        unsafe { bindings::force_sig(bindings::SIGSEGV as i32) };
    }
}
