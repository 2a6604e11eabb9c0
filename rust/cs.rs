// SPDX-License-Identifier: GPL-2.0

//! Critical section evaluation: abort, clear, or reject.
//!
//! C header: [`include/linux/rseq_entry.h`](srctree/include/linux/rseq_entry.h)
//! (`rseq_update_user_cs()`, `rseq_debug_update_user_cs()`).

use crate::task::stats::{Context, Slow, Stat};
use crate::task::{trace, urseq, Task, ORIG_RSEQ_SIZE};
use core::marker::PhantomData;
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::uaccess::window::{
    task_size, Fault, InWindow, ReadWrite, TaskSize, UserAccessDisabled, UserWindow,
};
use kernel::uaccess::UserPtr;

/// A window on a user space `struct rseq_cs`.
type CsWindow<'a> = UserWindow<'a, bindings::rseq_cs, ReadWrite>;

/// What the evaluation of a critical section descriptor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The instruction pointer was inside: it now is the abort handler.
    Abort {
        ip: u64,
        start_ip: u64,
        offset: u64,
        abort_ip: u64,
    },
    /// The instruction pointer was outside: `rseq_cs` was cleared.
    Clear,
    /// The descriptor is invalid: the task has to die (C's `die:`).
    Invalid,
    /// A user access faulted (C's `efault:`): left to the slow path.
    Fault,
}

impl From<Fault> for Outcome {
    #[inline(always)]
    fn from(_: Fault) -> Self {
        Outcome::Fault
    }
}

impl Outcome {
    /// Applies the C convention: `fatal` set for [`Outcome::Invalid`],
    /// the trace event for an abort, and `true` if the section was valid.
    #[inline(always)]
    pub(crate) fn finish(self, t: Task<'_>) -> bool {
        match self {
            Outcome::Abort {
                ip,
                start_ip,
                offset,
                abort_ip,
            } => {
                trace::ip_fixup(ip, start_ip, offset, abort_ip);
                true
            }
            Outcome::Clear => true,
            Outcome::Invalid => {
                t.set_fatal(1);
                false
            }
            Outcome::Fault => false,
        }
    }
}

mod ucs {
    use core::mem::offset_of;
    use kernel::bindings::rseq_cs;

    pub(super) const VERSION: usize = offset_of!(rseq_cs, version);
    pub(super) const START_IP: usize = offset_of!(rseq_cs, start_ip);
    pub(super) const POST_COMMIT_OFFSET: usize = offset_of!(rseq_cs, post_commit_offset);
    pub(super) const ABORT_IP: usize = offset_of!(rseq_cs, abort_ip);
}

const _: () = assert!(offset_of!(bindings::rseq_cs, flags) == ucs::VERSION + 4);

/// Size of the signature in front of the abort handler.
const SIG_SIZE: u64 = size_of::<u32>() as u64;

/// The user register frame of the current task, as the C code uses it.
///
/// Not a `&mut pt_regs`: perf and BPF may read the frame from NMI context
/// (or from the tracepoints this code calls) while it is in use, so it is
/// accessed through the pointer, as C does.
///
/// # Invariants
///
/// `ptr` points to a register frame which is valid for `'a` and which
/// nothing but the holder of this value writes during `'a`.
pub(crate) struct UserRegs<'a> {
    ptr: NonNull<bindings::pt_regs>,
    _p: PhantomData<&'a mut bindings::pt_regs>,
}

impl UserRegs<'_> {
    /// Wraps the register frame handed in by the C code.
    ///
    /// # Safety
    ///
    /// `ptr` points to the user register frame of the current task, valid
    /// for the returned lifetime, and nothing else writes it meanwhile.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::pt_regs>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    /// `instruction_pointer()`.
    #[inline(always)]
    pub(crate) fn ip(&self) -> u64 {
        // SAFETY: `ptr` is a valid register frame (type invariant).
        unsafe { bindings::instruction_pointer(self.ptr.as_ptr()) as u64 }
    }

    /// `instruction_pointer_set()`.
    #[inline(always)]
    pub(crate) fn set_ip(&mut self, ip: u64) {
        // SAFETY: `ptr` is a valid register frame which only this value
        // writes (type invariant).
        unsafe { bindings::instruction_pointer_set(self.ptr.as_ptr(), ip as usize) }
    }
}

impl<'a> From<&'a mut bindings::pt_regs> for UserRegs<'a> {
    /// A frame of one's own (the KUnit tests' stand-in for a user frame).
    #[inline(always)]
    fn from(regs: &'a mut bindings::pt_regs) -> Self {
        // INVARIANT: A unique reference: valid, and nothing else writes it
        // during `'a`.
        Self {
            ptr: NonNull::from(regs),
            _p: PhantomData,
        }
    }
}

/// Reads the signature in front of the abort handler at `abort_ip`, with
/// the user access of the window on the descriptor, as C does.
#[inline(always)]
fn read_sig(w: &CsWindow<'_>, abort_ip: u64, tasksize: TaskSize) -> Result<u32, Fault> {
    if abort_ip >= tasksize.get() || abort_ip < SIG_SIZE {
        // Not reached: both callers reject these first.
        return Err(Fault);
    }
    // SAFETY: `abort_ip - SIG_SIZE .. abort_ip` lies below `TASK_SIZE`:
    // checked just above against a `TaskSize`, which only `task_size()`
    // makes.
    unsafe { w.get_unchecked::<u32>(UserPtr::from_addr((abort_ip - SIG_SIZE) as usize)) }
}

/// Invalidates the critical section in `rseq::rseq_cs` and, for legacy
/// registrations under the `cs_reset` policy, rewrites `cpu_id_start`
/// (`rseq_legacy_reset_cpu_id_start()`). Inside the window of the caller.
///
/// The value is the CPU number written to user space last (the cached
/// `rseq_ids::cpu_id`), not the current CPU: debug mode's read-only checks
/// compare against it, and a task which migrated has the ID update pending.
#[inline(always)]
fn invalidate(w: &CsWindow<'_>, t: Task<'_>) -> Result<(), Fault> {
    w.put_to::<u64, { urseq::RSEQ_CS }, ORIG_RSEQ_SIZE>(t.area(), 0)?;
    if t.legacy_cs_reset() {
        w.put_to::<u32, { urseq::CPU_ID_START }, ORIG_RSEQ_SIZE>(t.area(), t.ids().cpu_id)?;
    }
    Ok(())
}

/// The clear outcome, inside the window: `rseq_cs` invalidated.
#[inline(always)]
fn clear(ctx: impl Context, w: &CsWindow<'_>, t: Task<'_>) -> Result<Outcome, Fault> {
    invalidate(w, t)?;
    ctx.inc(Stat::Clear);
    Ok(Outcome::Clear)
}

/// The abort outcome, inside the window: `rseq_cs` invalidated and the
/// instruction pointer moved to the abort handler. `v` is `[ip, start_ip,
/// offset, abort_ip]`, kept for the trace event.
#[inline(always)]
fn abort(
    ctx: impl Context,
    w: &CsWindow<'_>,
    t: Task<'_>,
    regs: UserRegs<'_>,
    v: [u64; 4],
) -> Result<Outcome, Fault> {
    let [ip, start_ip, offset, abort_ip] = v;
    invalidate(w, t)?;
    let mut regs = regs;
    regs.set_ip(abort_ip);
    ctx.inc(Stat::Fixup);
    Ok(Outcome::Abort {
        ip,
        start_ip,
        offset,
        abort_ip,
    })
}

/// `rseq_update_user_cs()`: evaluates the descriptor at `csaddr` against
/// the instruction pointer in `regs`.
///
/// Only ensures that `abort_ip` is in user space and preceded by the
/// signature; the other checks are debug mode's (see [`debug_update`]).
/// Costs, besides the statistics: three 64-bit loads of the descriptor,
/// one 32-bit load of the signature and one 64-bit store (plus a 32-bit
/// load of the cached CPU number and a 32-bit store under the `cs_reset`
/// legacy policy).
///
/// # Context
///
/// The fast path ([`Fast`](crate::task::stats::Fast)) runs with interrupts
/// and page faults disabled; the slow path and signal delivery
/// ([`Slow`]) are preemptible and may fault. `regs` must be the user register frame of
/// the current task `t`.
#[inline(always)]
pub(crate) fn update(
    ctx: impl Context,
    ua: &mut UserAccessDisabled,
    t: Task<'_>,
    regs: UserRegs<'_>,
    csaddr: u64,
) -> bool {
    ctx.inc(Stat::Cs);

    let tasksize = task_size();
    if csaddr >= tasksize.get() {
        t.set_fatal(1);
        return false;
    }

    if crate::task::keys::debug() {
        return debug_update(ua, t, regs, csaddr);
    }

    evaluate::<_, false>(ctx, ua, t, regs, csaddr, tasksize).finish(t)
}

/// Opens the window on the descriptor at `csaddr` and evaluates it, with
/// the checks of debug mode if `DEBUG`.
#[inline(always)]
fn evaluate<C: Context, const DEBUG: bool>(
    ctx: C,
    ua: &mut UserAccessDisabled,
    t: Task<'_>,
    regs: UserRegs<'_>,
    csaddr: u64,
    tasksize: TaskSize,
) -> Outcome {
    let ip = regs.ip();
    let a = CsArgs {
        t,
        regs,
        ip,
        tasksize,
    };
    let ucs = UserPtr::from_addr(csaddr as usize);
    // The window closes before any trace event or signal.
    let outcome = ua.read_write(ucs, Evaluate::<C, DEBUG>(ctx, a));
    outcome.unwrap_or_else(Outcome::from)
}

/// The evaluation inside the window on the descriptor.
struct Evaluate<'a, C, const DEBUG: bool>(C, CsArgs<'a>);

impl<C: Context, const DEBUG: bool> InWindow<bindings::rseq_cs, ReadWrite>
    for Evaluate<'_, C, DEBUG>
{
    type Output = Result<Outcome, Fault>;

    #[inline(always)]
    fn run(self, w: &CsWindow<'_>) -> Result<Outcome, Fault> {
        let CsArgs {
            t,
            regs,
            ip,
            tasksize,
        } = self.1;
        if DEBUG {
            debug_evaluate_in(w, t, regs, ip, tasksize)
        } else {
            evaluate_in(self.0, w, t, regs, ip, tasksize)
        }
    }
}

/// What the evaluation inside the window works with.
struct CsArgs<'a> {
    t: Task<'a>,
    regs: UserRegs<'a>,
    /// The instruction pointer in `regs`.
    ip: u64,
    /// `TASK_SIZE`.
    tasksize: TaskSize,
}

/// The body of [`evaluate`], inside the window: everything inlined.
#[inline(always)]
fn evaluate_in(
    ctx: impl Context,
    w: &CsWindow<'_>,
    t: Task<'_>,
    regs: UserRegs<'_>,
    ip: u64,
    ts: TaskSize,
) -> Result<Outcome, Fault> {
    let tasksize = ts.get();
    let start_ip = w.get::<u64, { ucs::START_IP }>()?;
    let offset = w.get::<u64, { ucs::POST_COMMIT_OFFSET }>()?;
    let abort_ip = w.get::<u64, { ucs::ABORT_IP }>()?;

    // No sanity checks: if outside, just clear the critical section.
    if ip.wrapping_sub(start_ip) >= offset {
        return clear(ctx, w, t);
    }

    // In user space (x86 IRET would return to the kernel) and preceded by
    // the signature (no ROP gadget as abort handler).
    if abort_ip >= tasksize || abort_ip < SIG_SIZE {
        return Ok(Outcome::Invalid);
    }
    if read_sig(w, abort_ip, ts)? != t.sig() {
        return Ok(Outcome::Invalid);
    }

    abort(ctx, w, t, regs, [ip, start_ip, offset, abort_ip])
}

/// `rseq_debug_update_user_cs()`: the full validation of debug mode.
///
/// Rejects, besides what [`update`] rejects: `start_ip` or the end of the
/// section outside user space or wrapping, an abort handler inside the
/// section, non-zero version or flags, and (with generic IRQ entry) an
/// abort when the task did not come from an interrupt in user mode.
///
/// # Context
///
/// As [`update`]; `csaddr` has been checked to be below `TASK_SIZE`.
/// Out of line in C, so it counts with `this_cpu_inc()` everywhere.
#[inline(never)]
pub(crate) fn debug_update(
    ua: &mut UserAccessDisabled,
    t: Task<'_>,
    regs: UserRegs<'_>,
    csaddr: u64,
) -> bool {
    evaluate::<_, true>(Slow, ua, t, regs, csaddr, task_size()).finish(t)
}

/// The body of [`evaluate`] in debug mode, inside the window: everything
/// inlined.
#[inline(always)]
fn debug_evaluate_in(
    w: &CsWindow<'_>,
    t: Task<'_>,
    regs: UserRegs<'_>,
    ip: u64,
    ts: TaskSize,
) -> Result<Outcome, Fault> {
    let tasksize = ts.get();
    let start_ip = w.get::<u64, { ucs::START_IP }>()?;
    if start_ip >= tasksize {
        return Ok(Outcome::Invalid);
    }
    if ip < start_ip {
        return clear(Slow, w, t);
    }

    let offset = w.get::<u64, { ucs::POST_COMMIT_OFFSET }>()?;
    let cs_end = start_ip.wrapping_add(offset);
    // Overflow and wraparound.
    if cs_end >= tasksize || cs_end < start_ip {
        return Ok(Outcome::Invalid);
    }
    if ip >= cs_end {
        return clear(Slow, w, t);
    }

    let abort_ip = w.get::<u64, { ucs::ABORT_IP }>()?;
    if abort_ip >= tasksize || abort_ip < SIG_SIZE {
        return Ok(Outcome::Invalid);
    }
    // The abort handler must not be inside the critical section.
    if abort_ip.wrapping_sub(start_ip) < offset {
        return Ok(Outcome::Invalid);
    }

    // Version and flags, read as one 64-bit word, must be zero.
    if w.get::<u64, { ucs::VERSION }>()? != 0 {
        return Ok(Outcome::Invalid);
    }

    if read_sig(w, abort_ip, ts)? != t.sig() {
        return Ok(Outcome::Invalid);
    }

    // user_irq is only valid with CONFIG_GENERIC_IRQ_ENTRY=y: no abort
    // unless the task was interrupted in user mode.
    if cfg!(CONFIG_GENERIC_IRQ_ENTRY) && t.user_irq() == 0 {
        return Ok(Outcome::Invalid);
    }

    abort(Slow, w, t, regs, [ip, start_ip, offset, abort_ip])
}
