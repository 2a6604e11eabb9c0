// SPDX-License-Identifier: GPL-2.0

//! The rseq exit to user space work of Linux 7.3, in Rust.
//!
//! C headers: [`include/linux/rseq_entry.h`](srctree/include/linux/rseq_entry.h),
//! [`include/linux/rseq.h`](srctree/include/linux/rseq.h) (`struct rseq_impl`).
//!
//! This crate registers itself as the alternative implementation of
//! `struct rseq_impl` under the name `rust`. It is selected with
//! `rseq_impl=rust` on the command line or by writing `rust` to debugfs
//! `rseq/impl`; loaded as a module it selects itself unless `select=0`
//! (the command line wins). Unloading switches back to C and waits until
//! no CPU runs this code anymore.
//!
//! The behaviour is that of the C functions it replaces, including the
//! legacy policy knob, debug mode, statistics and tracepoints.

use kernel::bindings;
use kernel::prelude::*;

mod cs;
mod exit;
mod kunit;
mod task;

// Built in, the command line selects (rseq_impl=rust) and there is no
// parameter: a built-in module with parameters owns /sys/module/rseq_rs,
// which would keep the out-of-tree module from loading on the same kernel
// when the built-in one is disabled with initcall_blacklist=__rseq_rs_init.
/// `module!` with what built-in and modular builds share.
macro_rules! rseq_rs_module {
    ($($params:tt)*) => {
        module! {
            type: RseqRs,
            name: "rseq_rs",
            authors: ["rseq-rs developers"],
            description: "Rust implementation of the rseq exit to user space work",
            license: "GPL",
            $($params)*
        }
    };
}

#[cfg(MODULE)]
rseq_rs_module! {
    params: {
        select: bool {
            default: true,
            description: "Select the Rust implementation when the module is loaded",
        },
    },
}

#[cfg(not(MODULE))]
rseq_rs_module! {}

/// The `struct rseq_impl` handed to C.
struct Impl(bindings::rseq_impl);

// SAFETY: Only read by C after registration; it holds a static string and
// function pointers.
unsafe impl Sync for Impl {}

#[cfg(CONFIG_GENERIC_ENTRY)]
const EXIT_USER_UPDATE: Option<
    unsafe extern "C" fn(*mut bindings::pt_regs, *mut bindings::task_struct) -> bool,
> = Some(exit::exit_user_update);
#[cfg(not(CONFIG_GENERIC_ENTRY))]
const EXIT_USER_UPDATE: Option<
    unsafe extern "C" fn(*mut bindings::pt_regs, *mut bindings::task_struct) -> bool,
> = None;

#[expect(
    clippy::disallowed_methods,
    reason = "as_char_ptr() is not const; the cast to the kernel's unsigned char is what it does"
)]
static RSEQ_IMPL: Impl = Impl(bindings::rseq_impl {
    name: c"rust".as_ptr().cast(),
    exit_user_update: EXIT_USER_UPDATE,
    handle_slowpath: Some(exit::handle_slowpath),
    signal_deliver: Some(exit::signal_deliver),
    debug_syscall_return: Some(exit::debug_syscall_return),
});

/// The registration; dropping it unregisters.
struct RseqRs;

impl kernel::Module for RseqRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        #[cfg(MODULE)]
        let select = module_parameters::select.value();
        // Built in, the command line decides (rseq_impl=rust).
        #[cfg(not(MODULE))]
        let select = false;
        // SAFETY: `RSEQ_IMPL` is static and complete; it is unregistered
        // in `drop()` before the module text goes away.
        let ret = unsafe { bindings::rseq_impl_register(&RSEQ_IMPL.0, select) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        pr_info!("registered (selected: {})\n", select);
        Ok(RseqRs)
    }
}

impl Drop for RseqRs {
    fn drop(&mut self) {
        // SAFETY: Registered in `init()`. On return no CPU executes code
        // of this crate anymore.
        unsafe { bindings::rseq_impl_unregister(&RSEQ_IMPL.0) };
        pr_info!("unregistered\n");
    }
}
