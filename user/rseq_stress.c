// SPDX-License-Identifier: GPL-2.0
/*
 * rseq_stress: the two user space patterns the v6.19 rseq rewrite broke.
 *
 *   rseq_stress samecpu [-L] [-s SECONDS]
 *	The arm64 report's test. Every thread is pinned to one CPU. A writer
 *	increments a counter; a reader runs critical sections which read the
 *	counter and spin re-reading it. With one CPU the writer only runs
 *	after the reader was preempted, which must abort the section: a
 *	change seen inside a section is a kernel bug.
 *
 *   rseq_stress tcmalloc [-L] [-s SECONDS] [-t THREADS]
 *	TCMalloc's per-CPU slab pointer caching. A thread-local 64-bit word
 *	sits 4 bytes before struct rseq, so its upper half is cpu_id_start.
 *	Inside a critical section a worker reads it: bit 63 set means
 *	"cached pointer to this CPU's slab", else it takes the slab of
 *	cpu_id_start and stores the tagged pointer (outside the section, as
 *	TCMalloc's slow path does), then pops an object. A fencer swaps a
 *	CPU's slab, fences with MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ on that
 *	CPU and reclaims the objects left in the old slab. A kernel that does
 *	not rewrite cpu_id_start at the fence (or at the context switch of a
 *	worker blocked in a syscall) lets a worker pop from the old slab: the
 *	object is handed out twice, which the owner check catches.
 *	Workers are preempted, sleep, block in syscalls and get signals.
 *
 * -L registers the original 32-byte (legacy) area, otherwise RSEQ ABI V2.
 * -F: each thread opts in to user copy fault injection (fail_usercopy,
 * /proc/thread-self/make-it-fail) once it is set up (see failrun -p).
 * -q (tcmalloc): workers never sleep, make a system call or get a signal;
 * only preemption, migration and the fences reach them. -k KIND: only
 * that kind (syscall, sleep or signal) besides those.
 * Exit 0: pass; 1: the pattern broke (a kernel bug under this policy);
 * 2: setup failed. A V2 registration in tcmalloc mode writes cpu_id_start,
 * which the kernel enforces as read-only: the process is killed (SIGSEGV).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include "guest_util.h"
#include "rseq_user.h"

/*
 * TCMalloc's layout: the slab word's low half just before the rseq area,
 * its high half is cpu_id_start. 256 bytes covers any AT_RSEQ_ALIGN.
 */
struct tls {
	char pad[252];
	uint32_t slab_lo;
	struct rseq_area rseq;
	char tail[256];
} __attribute__((aligned(256)));

static __thread struct tls tls;
static bool opt_legacy;
static int opt_seconds = 3;
static int opt_threads = 4;
/* What reaches the workers besides preemption, migration and the fences */
static bool opt_syscalls = true, opt_sleeps = true, opt_signals = true;
static atomic_bool stop;
/* -F: every thread opts in to fault injection once it is set up */
static bool opt_fail;

/* With -F: user copies of this thread may fail from now on (failrun -p) */
static void fail_from_here(void)
{
	if (opt_fail)
		write_file("/proc/thread-self/make-it-fail", "1");
}

static void die(const char *what)
{
	fprintf(stderr, "rseq_stress: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void register_rseq(void)
{
	if (syscall(__NR_rseq, &tls.rseq, rseq_reg_len(opt_legacy), 0, RSEQ_SIG))
		die("rseq registration (run with GLIBC_TUNABLES=glibc.pthread.rseq=0)");
}

static uint64_t *slab_word(void)
{
	return (uint64_t *)((char *)&tls.rseq - 4);
}

/* ----- the same-CPU abort test ----- */

static volatile long counter;

/* 0: completed, 1: aborted, 2: the counter changed inside the section */
static int samecpu_section(long spins)
{
#if defined(__x86_64__)
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"movq (%[counter]), %%rax\n\t"
		"movq %[spins], %%rcx\n\t"
		"5:\n\t"
		"cmpq (%[counter]), %%rax\n\t"
		"jne %l[changed]\n\t"
		"decq %%rcx\n\t"
		"jnz 5b\n\t"
		RS_CS_END
		:
		: [rseq_cs] "m" (tls.rseq.rseq_cs), [counter] "r" (&counter),
		  [spins] "r" (spins)
		: "memory", "cc", "rax", "rcx"
		: aborted, changed);
#else
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"ldr x13, [%[counter]]\n"
		"mov x14, %[spins]\n"
		"5:\n"
		"ldr x12, [%[counter]]\n"
		"cmp x12, x13\n"
		"b.ne %l[changed]\n"
		"subs x14, x14, #1\n"
		"b.ne 5b\n"
		RS_CS_END
		:
		: [rseq_cs] "Qo" (tls.rseq.rseq_cs), [counter] "r" (&counter),
		  [spins] "r" (spins)
		: "memory", "cc", "x12", "x13", "x14", "x15"
		: aborted, changed);
#endif
	return 0;
aborted:
	return 1;
changed:
	return 2;
}

static void *samecpu_writer(void *arg)
{
	fail_from_here();
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		counter++;
	return NULL;
}

static int samecpu(void)
{
	long done = 0, aborts = 0, bad = 0;
	pthread_t writer;
	time_t end;

	if (pin_to_cpu(0))
		die("sched_setaffinity");
	register_rseq();
	if (pthread_create(&writer, NULL, samecpu_writer, NULL))
		die("pthread_create");
	fail_from_here();
	end = time(NULL) + opt_seconds;
	while (time(NULL) < end) {
		switch (samecpu_section(20000)) {
		case 0:
			done++;
			break;
		case 1:
			aborts++;
			break;
		default:
			bad++;
			break;
		}
	}
	atomic_store(&stop, true);
	pthread_join(writer, NULL);
	printf("samecpu: %ld sections completed, %ld aborted, %ld saw the counter change\n",
	       done, aborts, bad);
	if (bad)
		return 1;
	if (!aborts) {
		printf("samecpu: no section was preempted: nothing tested\n");
		return 2;
	}
	return 0;
}

/* ----- the TCMalloc pattern ----- */

#define NOBJ		256
#define MAX_CPUS	64
#define FENCER		(-1)

struct object {
	atomic_int owner;
};

struct slab {
	long top;
	struct object *objs[NOBJ];
};

static struct slab *_Atomic current_slab[MAX_CPUS];
static int ncpus;
static atomic_long double_handouts, pops, empties, fences;

/*
 * Pop an object from the slab cached in the slab word. 0: popped into
 * *obj; 1: aborted; 2: no cached slab (miss); 3: slab empty.
 */
static int tcmalloc_pop(struct object **obj)
{
	uint64_t *word = slab_word();

#if defined(__x86_64__)
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"movq (%[word]), %%rax\n\t"		/* the slab word */
		"btrq $63, %%rax\n\t"			/* cached? untag */
		"jnc %l[miss]\n\t"
		"movq (%%rax), %%rcx\n\t"		/* slab->top */
		"testq %%rcx, %%rcx\n\t"
		"jz %l[empty]\n\t"
		"movq (%%rax, %%rcx, 8), %%rdx\n\t"	/* objs[top - 1] */
		"movq %%rdx, (%[obj])\n\t"
		"decq %%rcx\n\t"
		"movq %%rcx, (%%rax)\n\t"		/* commit: slab->top = top - 1 */
		RS_CS_END
		:
		: [rseq_cs] "m" (tls.rseq.rseq_cs), [word] "r" (word), [obj] "r" (obj)
		: "memory", "cc", "rax", "rcx", "rdx"
		: aborted, miss, empty);
#else
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"ldr x13, [%[word]]\n"			/* the slab word */
		"tbz x13, #63, %l[miss]\n"		/* cached? */
		"and x13, x13, #0x7fffffffffffffff\n"	/* untag */
		"ldr x14, [x13]\n"			/* slab->top */
		"cbz x14, %l[empty]\n"
		"ldr x12, [x13, x14, lsl #3]\n"		/* objs[top - 1] */
		"str x12, [%[obj]]\n"
		"sub x14, x14, #1\n"
		"str x14, [x13]\n"			/* commit: slab->top = top - 1 */
		RS_CS_END
		:
		: [rseq_cs] "Qo" (tls.rseq.rseq_cs), [word] "r" (word), [obj] "r" (obj)
		: "memory", "cc", "x12", "x13", "x14", "x15"
		: aborted, miss, empty);
#endif
	return 0;
aborted:
	return 1;
miss:
	return 2;
empty:
	return 3;
}

static struct slab *new_slab(void)
{
	struct slab *s = calloc(1, sizeof(*s));
	int i;

	if (!s)
		die("calloc");
	for (i = 0; i < NOBJ; i++) {
		s->objs[i] = calloc(1, sizeof(struct object));
		if (!s->objs[i])
			die("calloc");
	}
	s->top = NOBJ;
	return s;
}

static void sigusr1(int sig)
{
}

static void *tcmalloc_worker(void *arg)
{
	int me = (int)(long)arg, n = 0;
	struct object *o;

	register_rseq();
	fail_from_here();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		switch (tcmalloc_pop(&o)) {
		case 0: {
			int expect = 0;

			atomic_fetch_add(&pops, 1);
			if (!atomic_compare_exchange_strong(&o->owner, &expect, me))
				atomic_fetch_add(&double_handouts, 1);
			break;
		}
		case 2: {
			/* TCMalloc's slow path: cache the slab of cpu_id_start */
			uint32_t cpu = __atomic_load_n(&tls.rseq.cpu_id_start, __ATOMIC_RELAXED);
			struct slab *s = current_slab[cpu % MAX_CPUS];

			*(volatile uint64_t *)slab_word() = (uint64_t)(uintptr_t)s | (1ULL << 63);
			break;
		}
		case 3:
			atomic_fetch_add(&empties, 1);
			sched_yield();
			break;
		default:
			break;
		}
		/* Sleep and make system calls now and then */
		n++;
		if (opt_sleeps && n % 64 == 0)
			usleep(n % 128 ? 0 : 200);
		else if (opt_syscalls && n % 16 == 0)
			getppid();
	}
	return NULL;
}

static int tcmalloc(void)
{
	pthread_t th[64], signaller = 0;
	struct timespec t0;
	int i, cpu;

	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	for (cpu = 0; cpu < MAX_CPUS; cpu++)
		current_slab[cpu] = new_slab();
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0))
		die("membarrier register");
	signal(SIGUSR1, sigusr1);
	if (opt_threads > 64)
		opt_threads = 64;
	for (i = 0; i < opt_threads; i++)
		if (pthread_create(&th[i], NULL, tcmalloc_worker, (void *)(long)(i + 1)))
			die("pthread_create");
	fail_from_here();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0;; i++) {
		struct timespec t;
		struct slab *old;
		long top, j;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= opt_seconds)
			break;
		cpu = i % ncpus;
		/* Swap the slab, fence the CPU, reclaim what is left */
		old = atomic_exchange(&current_slab[cpu], new_slab());
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
			    MEMBARRIER_CMD_FLAG_CPU, cpu))
			die("membarrier fence");
		atomic_fetch_add(&fences, 1);
		top = __atomic_load_n(&old->top, __ATOMIC_ACQUIRE);
		for (j = 0; j < top; j++) {
			int expect = 0;

			if (!atomic_compare_exchange_strong(&old->objs[j]->owner, &expect, FENCER))
				atomic_fetch_add(&double_handouts, 1);
		}
		if (opt_signals && i % 8 == 0)
			pthread_kill(th[i / 8 % opt_threads], SIGUSR1);
		usleep(500);
	}
	atomic_store(&stop, true);
	for (i = 0; i < opt_threads; i++)
		pthread_join(th[i], NULL);
	(void)signaller;
	printf("tcmalloc: %ld pops, %ld fences, %ld empty, %ld objects handed out twice\n",
	       atomic_load(&pops), atomic_load(&fences), atomic_load(&empties),
	       atomic_load(&double_handouts));
	return atomic_load(&double_handouts) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: rseq_stress samecpu|tcmalloc [-L] [-q | -k KIND] [-s SECONDS] [-t THREADS] [-F]\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-L"))
			opt_legacy = true;
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			opt_seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-q"))
			opt_syscalls = opt_sleeps = opt_signals = false;
		else if (!strcmp(argv[i], "-k") && i + 1 < argc) {
			/* Only one kind: syscall, sleep or signal */
			i++;
			opt_syscalls = !strcmp(argv[i], "syscall");
			opt_sleeps = !strcmp(argv[i], "sleep");
			opt_signals = !strcmp(argv[i], "signal");
		}
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			opt_threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-F"))
			opt_fail = true;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "samecpu"))
		return samecpu();
	if (!strcmp(argv[1], "tcmalloc"))
		return tcmalloc();
	return 2;
}
