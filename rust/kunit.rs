// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the Rust implementation against real user memory.
//!
//! C header: [`include/kunit/test.h`](srctree/include/kunit/test.h)
//! (`kunit_vm_mmap()`).
//!
//! The KUnit test thread gets a user address space from `kunit_vm_mmap()`;
//! the tests register a fake rseq area there for the test thread (which
//! never returns to user space) and drive the Rust functions directly.
//! The C suite `rseq` (kernel/rseq_kunit.c) compares the whole Rust
//! implementation against C on random states; these tests pin down each
//! branch on its own.

#[kernel::macros::kunit_tests(rseq_rust)]
mod tests {
    use crate::cs::{self, UserRegs};
    use crate::exit;
    use crate::task::stats::Slow;
    use crate::task::{event, keys, urseq, Ids, Task, ORIG_RSEQ_SIZE};
    use core::mem::{offset_of, size_of};
    use core::ptr::addr_of_mut;
    use kernel::bindings;
    use kernel::uaccess::window::{task_size, Fault, Get, Put, UserAccessDisabled, UserScalar};
    use kernel::uaccess::UserPtr;

    const PAGE: usize = bindings::PAGE_SIZE;
    const PROT_NONE: usize = bindings::PROT_NONE as usize;
    const PROT_RW: usize = (bindings::PROT_READ | bindings::PROT_WRITE) as usize;
    const MAP_PRIVATE_ANONYMOUS: usize = (bindings::MAP_PRIVATE | bindings::MAP_ANONYMOUS) as usize;
    const SIG: u32 = 0x5305_3053;
    const CS_OFF: u64 = 512;
    const START_OFF: u64 = 1024;
    const CS_LEN: u64 = 16;
    const ABORT_OFF: u64 = 2048;
    const TAGGED: u32 = 0x8000_1234;

    /// A page of user memory for the test thread (0 if there is none).
    fn user_page(prot: usize) -> u64 {
        // SAFETY: Called from a KUnit test, so the current test is valid.
        unsafe {
            let test = bindings::kunit_get_current_test();
            bindings::kunit_vm_mmap(
                test,
                core::ptr::null_mut(),
                0,
                PAGE,
                prot,
                MAP_PRIVATE_ANONYMOUS,
                0,
            ) as u64
        }
    }

    /// The token of a test: the KUnit thread has no window open.
    fn ua() -> UserAccessDisabled {
        // SAFETY: Test code opens windows only through this token, one at
        // a time; the test thread opened none.
        unsafe { UserAccessDisabled::assume() }
    }

    /// Writes `val` at `addr` in a read/write window of its own.
    fn put<U: UserScalar>(addr: u64, val: U) -> Result<(), Fault> {
        ua().read_write::<U, _, _>(UserPtr::from_addr(addr as usize), Put::<U, 0>(val))
    }

    /// Reads the value at `addr` in a read-only window of its own.
    fn get<U: UserScalar>(addr: u64) -> Result<U, Fault> {
        ua().read::<U, _, _>(UserPtr::from_addr(addr as usize), Get::<U, 0>::NEW)
    }

    fn put32(addr: u64, val: u32) -> Result<(), Fault> {
        put(addr, val)
    }

    fn put64(addr: u64, val: u64) -> Result<(), Fault> {
        put(addr, val)
    }

    fn get32(addr: u64) -> Result<u32, Fault> {
        get(addr)
    }

    fn get64(addr: u64) -> Result<u64, Fault> {
        get(addr)
    }

    /// Registers the rseq area at `base` for the test thread, as
    /// `sys_rseq()` would, with the IDs already written.
    fn register(base: u64, version: u8) -> Task<'static> {
        // SAFETY: The test thread's own task, used by the test only.
        let t = unsafe { Task::from_raw(kernel::task::Task::current_raw()) };
        // SAFETY: The test thread runs with interrupts enabled.
        let cpu = unsafe { exit::irqs_disabled(|irq| t.cpu(irq)) };
        let ids = Ids {
            cpu_id: cpu.as_u32(),
            mm_cid: t.mm_cid(),
            node_id: exit::cpu_to_node(cpu),
        };
        // What sys_rseq() checks with access_ok(): Task::area() relies on it.
        assert!(base != 0 && base + size_of::<bindings::rseq>() as u64 <= task_size().get());
        let u = |off: usize| base + off as u64;
        assert_eq!(put32(u(urseq::CPU_ID_START), ids.cpu_id), Ok(()));
        assert_eq!(put32(u(urseq::CPU_ID), ids.cpu_id), Ok(()));
        assert_eq!(put32(u(urseq::NODE_ID), ids.node_id), Ok(()));
        assert_eq!(put32(u(urseq::MM_CID), ids.mm_cid), Ok(()));
        assert_eq!(put64(u(urseq::RSEQ_CS), 0), Ok(()));
        // SAFETY: The test thread's own rseq state, which nothing else
        // uses: the thread never returns to user space. The area is in user
        // space (asserted above), as `Task::area()` requires.
        unsafe {
            let data = addr_of_mut!((*t.as_ptr()).rseq);
            (*data).usrptr = base as usize as *mut bindings::rseq;
            (*data).len = if version > 1 {
                size_of::<bindings::rseq>()
            } else {
                ORIG_RSEQ_SIZE
            } as u32;
            (*data).sig = SIG;
            (*data).event = core::mem::zeroed();
        }
        t.set_ids(&ids);
        t.set_has_rseq_for_test(version);
        t
    }

    /// Writes a descriptor `[start, start + len)` with `abort` and arms it.
    fn arm(base: u64, start: u64, len: u64, abort: u64, sig: u32) {
        let cs = base + CS_OFF;
        let f = |field: usize| cs + field as u64;
        assert_eq!(put64(f(offset_of!(bindings::rseq_cs, version)), 0), Ok(()));
        assert_eq!(
            put64(f(offset_of!(bindings::rseq_cs, start_ip)), start),
            Ok(())
        );
        assert_eq!(
            put64(f(offset_of!(bindings::rseq_cs, post_commit_offset)), len),
            Ok(())
        );
        assert_eq!(
            put64(f(offset_of!(bindings::rseq_cs, abort_ip)), abort),
            Ok(())
        );
        assert_eq!(put32(base + ABORT_OFF - 4, sig), Ok(()));
        assert_eq!(put64(base + urseq::RSEQ_CS as u64, cs), Ok(()));
    }

    fn regs_at(ip: u64) -> bindings::pt_regs {
        // SAFETY: `pt_regs` is plain data; all zeroes is a valid value.
        let mut regs: bindings::pt_regs = unsafe { core::mem::zeroed() };
        // SAFETY: `regs` is a valid register frame.
        unsafe { bindings::instruction_pointer_set(&mut regs, ip as usize) };
        regs
    }

    fn ip_of(regs: &mut bindings::pt_regs) -> u64 {
        // SAFETY: `regs` is a valid register frame.
        unsafe { bindings::instruction_pointer(regs) as u64 }
    }

    #[test]
    fn slowpath_mask_keeps_has_rseq_and_user_irq() {
        // The mask is built from the byte offsets of struct rseq_event, so
        // it keeps exactly those bytes on either byte order.
        let mask = exit::SLOWPATH_EVENT_MASK;
        let bytes = mask.to_ne_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let want = match i {
                event::HAS_RSEQ => 0xff,
                event::USER_IRQ => 1,
                _ => 0,
            };
            assert_eq!(*b, want);
        }
    }

    #[test]
    fn abort_inside_clear_outside() {
        let base = user_page(PROT_RW);
        assert!(base != 0);
        for version in [1u8, 2] {
            let t = register(base, version);
            let start = base + START_OFF;
            for ip in [start, start + 4, start + CS_LEN - 1] {
                arm(base, start, CS_LEN, base + ABORT_OFF, SIG);
                let mut regs = regs_at(ip);
                t.set_user_irq_for_test(1);
                assert!(cs::update(
                    Slow,
                    &mut ua(),
                    t,
                    UserRegs::from(&mut regs),
                    base + CS_OFF
                ));
                assert_eq!(ip_of(&mut regs), base + ABORT_OFF);
                assert_eq!(get64(base + urseq::RSEQ_CS as u64), Ok(0));
                assert_eq!(t.fatal_for_test(), 0);
            }
            for ip in [start - 1, start + CS_LEN, base + ABORT_OFF] {
                arm(base, start, CS_LEN, base + ABORT_OFF, SIG);
                let mut regs = regs_at(ip);
                assert!(cs::update(
                    Slow,
                    &mut ua(),
                    t,
                    UserRegs::from(&mut regs),
                    base + CS_OFF
                ));
                assert_eq!(ip_of(&mut regs), ip);
                assert_eq!(get64(base + urseq::RSEQ_CS as u64), Ok(0));
            }
        }
    }

    #[test]
    fn invalid_descriptors_are_fatal_faults_are_not() {
        let base = user_page(PROT_RW);
        let none = user_page(PROT_NONE);
        assert!(base != 0 && none != 0);
        let t = register(base, 1);
        let start = base + START_OFF;
        let check = |csaddr: u64, fatal: u8| {
            let mut regs = regs_at(start);
            t.clear_error();
            assert!(!cs::update(
                Slow,
                &mut ua(),
                t,
                UserRegs::from(&mut regs),
                csaddr
            ));
            assert_eq!(ip_of(&mut regs), start);
            assert_eq!(t.fatal_for_test(), fatal);
        };

        // Wrong signature.
        arm(base, start, CS_LEN, base + ABORT_OFF, SIG ^ 1);
        check(base + CS_OFF, 1);
        // abort_ip in kernel space or below the signature size.
        for abort in [task_size().get(), u64::MAX, 0, 3] {
            arm(base, start, CS_LEN, abort, SIG);
            check(base + CS_OFF, 1);
        }
        // Descriptor in kernel space.
        check(task_size().get(), 1);
        // Descriptor, or signature, in unmapped memory: a fault.
        check(none, 0);
        arm(base, start, CS_LEN, none + 64, SIG);
        check(base + CS_OFF, 0);
        // Nothing was cleared on any of these.
        assert_eq!(get64(base + urseq::RSEQ_CS as u64), Ok(base + CS_OFF));
    }

    #[test]
    fn legacy_cs_reset_follows_the_policy() {
        // Under historic (the default) cpu_id_start keeps its value across
        // an abort; under cs_reset it is rewritten. The C suite's
        // differential test switches policies and compares exact values.
        let base = user_page(PROT_RW);
        assert!(base != 0);
        let t = register(base, 1);
        let start = base + START_OFF;
        arm(base, start, CS_LEN, base + ABORT_OFF, SIG);
        assert_eq!(put32(base + urseq::CPU_ID_START as u64, TAGGED), Ok(()));
        let mut regs = regs_at(start);
        t.set_user_irq_for_test(1);
        assert!(cs::update(
            Slow,
            &mut ua(),
            t,
            UserRegs::from(&mut regs),
            base + CS_OFF
        ));
        let val = get32(base + urseq::CPU_ID_START as u64);
        if t.legacy_cs_reset() {
            // Rewritten with a CPU number: the cached-pointer tag is gone.
            assert!(matches!(val, Ok(v) if v & 0x8000_0000 == 0));
        } else {
            assert_eq!(val, Ok(TAGGED));
        }
    }

    /// The IDs as the test thread would get them now.
    fn ids_now(t: Task<'_>) -> Ids {
        // SAFETY: The test thread runs with interrupts enabled.
        let cpu = unsafe { exit::irqs_disabled(|irq| t.cpu(irq)) };
        Ids {
            cpu_id: cpu.as_u32(),
            mm_cid: t.mm_cid(),
            node_id: exit::cpu_to_node(cpu),
        }
    }

    #[test]
    fn ids_written_read_only_enforced_for_v2() {
        let base = user_page(PROT_RW);
        assert!(base != 0);
        for version in [1u8, 2] {
            let t = register(base, version);
            let ids = ids_now(t);
            let mut regs = regs_at(base + START_OFF);
            t.clear_error();
            assert!(exit::update_usr(
                Slow,
                &mut ua(),
                t,
                UserRegs::from(&mut regs),
                &ids
            ));
            assert_eq!(get32(base + urseq::CPU_ID_START as u64), Ok(ids.cpu_id));
            assert_eq!(get32(base + urseq::CPU_ID as u64), Ok(ids.cpu_id));
            assert_eq!(get32(base + urseq::NODE_ID as u64), Ok(ids.node_id));
            assert_eq!(get32(base + urseq::MM_CID as u64), Ok(ids.mm_cid));
            assert_eq!(t.ids(), ids);

            // User space scribbles on cpu_id_start (as TCMalloc does).
            assert_eq!(put32(base + urseq::CPU_ID_START as u64, TAGGED), Ok(()));
            t.clear_error();
            let ok = exit::update_usr(Slow, &mut ua(), t, UserRegs::from(&mut regs), &ids);
            if version > 1 || keys::debug() {
                // Read-only for RSEQ ABI V2, and for every registration in
                // debug mode (rseq_debug=1): invalid, nothing written.
                assert!(!ok);
                assert_eq!(t.fatal_for_test(), 1);
                assert_eq!(get32(base + urseq::CPU_ID_START as u64), Ok(TAGGED));
            } else {
                // Legacy: overwritten.
                assert!(ok);
                assert_eq!(t.fatal_for_test(), 0);
                assert_eq!(get32(base + urseq::CPU_ID_START as u64), Ok(ids.cpu_id));
            }
        }
    }

    #[test]
    fn slowpath_and_signal_abort() {
        let base = user_page(PROT_RW);
        assert!(base != 0);
        let t = register(base, 1);
        let start = base + START_OFF;

        // TIF_NOTIFY_RESUME work with a pending event: IDs, then abort.
        arm(base, start, CS_LEN, base + ABORT_OFF, SIG);
        assert_eq!(put32(base + urseq::CPU_ID as u64, 0xdead), Ok(()));
        let mut cached = t.ids();
        cached.node_id = 0xdead;
        t.set_ids(&cached);
        assert_eq!(put32(base + urseq::NODE_ID as u64, 0xdead), Ok(()));
        assert_eq!(put32(base + urseq::CPU_ID as u64, cached.cpu_id), Ok(()));
        let mut regs = regs_at(start);
        t.set_sched_switch(1);
        t.set_user_irq_for_test(1);
        // SAFETY: `regs` stands for the user register frame of the test
        // thread, whose rseq area is `base`.
        unsafe { exit::handle_slowpath(&mut regs) };
        assert_eq!(ip_of(&mut regs), base + ABORT_OFF);
        assert_eq!(get64(base + urseq::RSEQ_CS as u64), Ok(0));
        assert!(matches!(get32(base + urseq::NODE_ID as u64), Ok(v) if v != 0xdead));

        // Signal delivery in a critical section: abort.
        arm(base, start, CS_LEN, base + ABORT_OFF, SIG);
        let mut regs = regs_at(start + 4);
        t.set_user_irq_for_test(1);
        // SAFETY: As above.
        unsafe { exit::signal_deliver(10, &mut regs) };
        assert_eq!(ip_of(&mut regs), base + ABORT_OFF);
        assert_eq!(get64(base + urseq::RSEQ_CS as u64), Ok(0));
        assert_eq!(t.fatal_for_test(), 0);
        // Legacy under historic: the IDs are forced to be rewritten.
        if !t.optimized_policy() {
            assert_eq!(t.ids_changed(), 1);
        }
    }
}
