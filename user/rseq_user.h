/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rseq_user.h: what the rseq-rs guest programs share: the signature, the
 * registration length, the registered area (struct rseq of
 * include/uapi/linux/rseq.h, the fields up to mm_cid) and the inline-asm
 * critical section macros.
 */
#ifndef RSEQ_USER_H
#define RSEQ_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/auxv.h>

#define RSEQ_SIG_X86	0x53053053
#define RSEQ_SIG_ARM64	0xd428bc00	/* BRK #0x45E0 */
#if defined(__x86_64__)
#define RSEQ_SIG	RSEQ_SIG_X86
#elif defined(__aarch64__)
#define RSEQ_SIG	RSEQ_SIG_ARM64
#else
#error "x86_64 and arm64 only"
#endif

#define RSEQ_FLAG_UNREGISTER	1

/*
 * The rseq_len to register with: 32 for the original (legacy) area, else
 * the kernel's feature size (RSEQ ABI V2), at least 64.
 */
static inline uint32_t rseq_reg_len(bool legacy)
{
	unsigned long size = getauxval(AT_RSEQ_FEATURE_SIZE);

	return legacy || size <= 32 ? 32 : size < 64 ? 64 : size;
}

/* A critical section descriptor (struct rseq_cs of include/uapi/linux/rseq.h) */
struct rseq_desc {
	uint32_t version;
	uint32_t flags;
	uint64_t start_ip;
	uint64_t post_commit_offset;
	uint64_t abort_ip;
} __attribute__((aligned(32)));

struct rseq_area {
	uint32_t cpu_id_start;
	uint32_t cpu_id;
	uint64_t rseq_cs;
	uint32_t flags;
	uint32_t node_id;
	uint32_t mm_cid;
	char end[];
} __attribute__((aligned(32)));

/*
 * A critical section: RS_CS_BEGIN defines the descriptor for [1, 2) with
 * the abort handler 4 (preceded by the signature, outside the section),
 * stores its address in rseq_cs (operand %[rseq_cs]) and opens the section
 * at label 1; RS_CS_END closes it at label 2, the commit being the last
 * instruction before. An abort jumps to the C label "aborted". Scratch:
 * rax (x86_64), x15 (arm64).
 */
#if defined(__x86_64__)
#define RS_CS_BEGIN							\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n\t"						\
	"3:\n\t"							\
	".long 0, 0\n\t"						\
	".quad 1f, (2f - 1f), 4f\n\t"					\
	".popsection\n\t"						\
	"leaq 3b(%%rip), %%rax\n\t"					\
	"movq %%rax, %[rseq_cs]\n\t"					\
	"1:\n\t"
#define RS_CS_END							\
	"2:\n\t"							\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"					\
	".long 0x53053053\n\t"						\
	"4:\n\t"							\
	"jmp %l[aborted]\n\t"						\
	".popsection\n\t"
#else
#define RS_CS_BEGIN							\
	".pushsection __rseq_cs, \"aw\"\n"				\
	".balign 32\n"							\
	"3:\n"								\
	".long 0, 0\n"							\
	".quad 1f, (2f - 1f), 4f\n"					\
	".popsection\n"							\
	"adrp x15, 3b\n"						\
	"add x15, x15, :lo12:3b\n"					\
	"str x15, %[rseq_cs]\n"						\
	"1:\n"
#define RS_CS_END							\
	"2:\n"								\
	"b 6f\n"							\
	".inst 0xd428bc00\n"						\
	"4:\n"								\
	"b %l[aborted]\n"						\
	"6:\n"
#endif

#endif /* RSEQ_USER_H */
