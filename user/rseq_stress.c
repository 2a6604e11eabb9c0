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
 *   rseq_stress tcmalloc [-L] [-q | -k KIND] [-a] [-m] [-g] [-z] [-S] [-p]
 *                        [-e] [-s SECONDS] [-t THREADS]
 *	TCMalloc's per-CPU slab pointer caching (percpu_tcmalloc.h of the
 *	versions which overlap the slab pointer with cpu_id_start). A
 *	thread-local 64-bit word sits 4 bytes before struct rseq, so its
 *	upper half is cpu_id_start. Inside a critical section a worker reads
 *	it: bit 63 set means "cached pointer to this CPU's slab". On a miss
 *	it does what CacheCpuSlabSlow() does: store the tag bit alone outside
 *	of any section, read cpu_id, and store the tagged slab pointer with a
 *	section which commits only if the tag is still there (the kernel did
 *	not rewrite cpu_id_start in between). A fencer swaps a CPU's slab,
 *	fences it with MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ and reclaims the
 *	objects left in the old slab. A kernel that does not rewrite
 *	cpu_id_start where TCMalloc needs it lets a worker pop from the old
 *	slab: the object is handed out twice, which the owner check catches.
 *	By default workers are preempted, sleep, make short system calls and
 *	get signals.
 *
 * -L registers the original 32-byte (legacy) area, otherwise RSEQ ABI V2.
 * -F: each thread opts in to user copy fault injection (fail_usercopy,
 * /proc/thread-self/make-it-fail) once it is set up (see failrun -p).
 * tcmalloc options:
 *   -q, -k preempt  workers never enter the kernel on their own: only
 *		preemption, migration and the fences (IPIs in user mode)
 *		reach them
 *   -k KIND	only that kind besides those: sleep (blocked when the fence
 *		comes), syscall (short system calls), kernel (long reads of
 *		/dev/zero: the fence IPI lands in kernel mode), signal
 *   -a		fence all CPUs instead of one
 *   -m		workers move to another CPU every 512 operations
 *   -g		workers push objects back the way TCMalloc's Grow() updates
 *		a slab header: read outside of the section, committed by a
 *		section which only checks the tag (a thread of the process
 *		which ran on the CPU in between must have reset it)
 *   -z		rseq_cs is 0 between critical sections, so the tag is stored
 *		while it is 0 (as after the kernel cleared it, or after
 *		another library unregistered its sections)
 *   -S		the fencer uses TCMalloc's FenceCpu() shortcut for the CPU it
 *		runs on: no system call; it moves to the CPU, swaps the
 *		slab, sleeps (other threads run on the CPU) and reclaims.
 *		Like every thread which takes the shortcut in TCMalloc, the
 *		fencer has an rseq registration (the same kind as the workers)
 *   -p		worker i stays on CPU i % CPUs (no migration resets a tag)
 *   -e		end at the first object handed out twice instead of after
 *		SECONDS (for a case that must break: SECONDS is then a bound)
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
/* -z (tcmalloc): rseq_cs is left 0 between critical sections */
static bool opt_zero;
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
static atomic_long double_handouts, pops, pushes, empties, fences;

#define CACHED		(1ULL << 63)

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

/* Leave rseq_cs 0 between sections (-z), as after the kernel cleared it */
static void after_section(void)
{
	if (opt_zero)
		__atomic_store_n(&tls.rseq.rseq_cs, 0, __ATOMIC_RELAXED);
}

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
	after_section();
	return 0;
aborted:
	after_section();
	return 1;
miss:
	after_section();
	return 2;
empty:
	after_section();
	return 3;
}

/*
 * TCMalloc's StoreCurrentCpu(): in a critical section which only checks
 * that the slab word still carries the tag, i.e. that the kernel did not
 * rewrite cpu_id_start since the tag was stored, store val2 to *p2 if p2
 * is not NULL, then commit val to *p. true: committed.
 */
static bool store_if_tagged(uint64_t *p, uint64_t val, uint64_t *p2, uint64_t val2)
{
	uint64_t *word = slab_word();

	if (!p2) {
		p2 = p;
		val2 = val;
	}
#if defined(__x86_64__)
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"movq (%[word]), %%rcx\n\t"
		"btq $63, %%rcx\n\t"			/* still tagged? */
		"jnc %l[untagged]\n\t"
		"movq %[val2], (%[p2])\n\t"
		"movq %[val], (%[p])\n\t"		/* commit */
		RS_CS_END
		:
		: [rseq_cs] "m" (tls.rseq.rseq_cs), [word] "r" (word), [p] "r" (p),
		  [val] "r" (val), [p2] "r" (p2), [val2] "r" (val2)
		: "memory", "cc", "rax", "rcx"
		: aborted, untagged);
#else
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"ldr x13, [%[word]]\n"
		"tbz x13, #63, %l[untagged]\n"		/* still tagged? */
		"str %[val2], [%[p2]]\n"
		"str %[val], [%[p]]\n"			/* commit */
		RS_CS_END
		:
		: [rseq_cs] "Qo" (tls.rseq.rseq_cs), [word] "r" (word), [p] "r" (p),
		  [val] "r" (val), [p2] "r" (p2), [val2] "r" (val2)
		: "memory", "cc", "x13", "x15"
		: aborted, untagged);
#endif
	after_section();
	return true;
aborted:
untagged:
	after_section();
	return false;
}

/*
 * TCMalloc's CacheCpuSlabSlow(): store the tag alone, outside of any
 * critical section (the upper half of the word is cpu_id_start), read
 * the CPU from cpu_id, look up its slab and store the tagged pointer with
 * store_if_tagged(), which fails if the kernel rewrote cpu_id_start in
 * between. With -z, rseq_cs is 0 while the tag is stored and after.
 */
static void cache_cpu_slab(void)
{
	volatile uint64_t *word = slab_word();

	for (;;) {
		uint32_t cpu;
		struct slab *s;

		*word = CACHED;
		cpu = __atomic_load_n(&tls.rseq.cpu_id, __ATOMIC_RELAXED);
		s = current_slab[cpu % MAX_CPUS];
		if (store_if_tagged(slab_word(), (uint64_t)(uintptr_t)s | CACHED, NULL, 0))
			return;
	}
}

/*
 * Push an object back (-g), the way TCMalloc's Grow() updates a slab
 * header: the top is read outside of any critical section and the
 * section which commits it only checks the tag. If another thread popped
 * on this CPU in between and the tag survived, the popped object is back
 * in the slab and is handed out twice. 0: pushed; 1: not (no cached slab,
 * full, or the tag was gone).
 */
static int tcmalloc_push(struct object *o)
{
	uint64_t w = *(volatile uint64_t *)slab_word();
	struct slab *s = (struct slab *)(uintptr_t)(w & ~CACHED);
	long top, i;

	if (!(w & CACHED) || !s)
		return 1;
	top = __atomic_load_n(&s->top, __ATOMIC_RELAXED);
	if (top >= NOBJ)
		return 1;
	/* Widen the window between the read and the commit */
	for (i = 0; i < 2000; i++)
		__asm__ __volatile__("" ::: "memory");
	atomic_store(&o->owner, 0);
	if (store_if_tagged((uint64_t *)&s->top, top + 1, (uint64_t *)&s->objs[top],
			    (uint64_t)(uintptr_t)o))
		return 0;
	atomic_store(&o->owner, -2);
	return 1;
}

/* What reaches the workers besides preemption and the fences (-k) */
static bool opt_syscalls = true, opt_sleeps = true, opt_signals = true, opt_kernel;
/*
 * -a: fence all CPUs; -m: workers migrate; -g: workers push back; -S: self
 * fence; -p: worker i stays on CPU i % ncpus
 */
static bool opt_all, opt_migrate, opt_grow, opt_selfstop, opt_pin, opt_early;
static int kernel_fd = -1;
static char kernel_buf[256 << 10];

static void sigusr1(int sig)
{
}

static void *tcmalloc_worker(void *arg)
{
	int me = (int)(long)arg, n = 0;
	struct object *o, *held = NULL;

	if (opt_pin && pin_to_cpu(me % ncpus))
		die("sched_setaffinity");
	register_rseq();
	fail_from_here();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (held) {
			/* -g: give the object back, as free() would */
			if (!tcmalloc_push(held)) {
				atomic_fetch_add(&pushes, 1);
				held = NULL;
			} else if (atomic_load(&held->owner) == -2) {
				atomic_store(&held->owner, me);
			}
		}
		switch (tcmalloc_pop(&o)) {
		case 0: {
			int expect = 0;

			atomic_fetch_add(&pops, 1);
			if (!atomic_compare_exchange_strong(&o->owner, &expect, me))
				atomic_fetch_add(&double_handouts, 1);
			else if (opt_grow && !held)
				held = o;
			break;
		}
		case 2:
			cache_cpu_slab();
			break;
		case 3:
			atomic_fetch_add(&empties, 1);
			if (opt_syscalls || opt_sleeps)
				sched_yield();
			break;
		default:
			break;
		}
		n++;
		if (opt_migrate && n % 512 == 0)
			pin_to_cpu((me + n / 512) % ncpus);
		/* Sleep, make system calls and stay in the kernel now and then */
		if (opt_sleeps && n % 64 == 0)
			usleep(n % 128 ? 0 : 200);
		else if (opt_syscalls && n % 16 == 0)
			getppid();
		else if (opt_kernel && n % 16 == 0 &&
			 read(kernel_fd, kernel_buf, sizeof(kernel_buf)) < 0)
			die("read /dev/zero");
	}
	return NULL;
}

/* Claim what is left in a retired slab: an object taken since was handed out twice */
static void reclaim(struct slab *old)
{
	long top = __atomic_load_n(&old->top, __ATOMIC_ACQUIRE), j;

	for (j = 0; j < top; j++) {
		int expect = 0;

		if (!atomic_compare_exchange_strong(&old->objs[j]->owner, &expect, FENCER))
			atomic_fetch_add(&double_handouts, 1);
	}
}

static int tcmalloc(void)
{
	pthread_t th[64];
	struct timespec t0;
	int i, cpu;

	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	for (cpu = 0; cpu < MAX_CPUS; cpu++)
		current_slab[cpu] = new_slab();
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0))
		die("membarrier register");
	if (opt_kernel) {
		kernel_fd = open("/dev/zero", O_RDONLY);
		if (kernel_fd < 0)
			die("open /dev/zero");
	}
	/*
	 * The fencer is a thread which uses the per-CPU slabs too: TCMalloc
	 * only takes FenceCpu()'s own-CPU shortcut in a thread with an rseq
	 * registration (IsFastNoInit()), and fence_reset only records the
	 * tasks with a legacy registration which run on a CPU.
	 */
	register_rseq();
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

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= opt_seconds)
			break;
		if (opt_early && atomic_load(&double_handouts))
			break;
		cpu = i % ncpus;
		if (opt_selfstop) {
			/*
			 * TCMalloc's FenceCpu() on the caller's own CPU: no
			 * system call. Move there, swap the slab, let the
			 * other threads run on the CPU, then reclaim.
			 */
			if (pin_to_cpu(cpu))
				die("sched_setaffinity");
			old = atomic_exchange(&current_slab[cpu], new_slab());
			atomic_fetch_add(&fences, 1);
			usleep(300);
			reclaim(old);
			continue;
		}
		/* Swap the slab, fence the CPU (or all), reclaim what is left */
		old = atomic_exchange(&current_slab[cpu], new_slab());
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
			    opt_all ? 0 : MEMBARRIER_CMD_FLAG_CPU, opt_all ? -1 : cpu))
			die("membarrier fence");
		atomic_fetch_add(&fences, 1);
		reclaim(old);
		if (opt_signals && i % 8 == 0)
			pthread_kill(th[i / 8 % opt_threads], SIGUSR1);
		usleep(500);
	}
	atomic_store(&stop, true);
	for (i = 0; i < opt_threads; i++)
		pthread_join(th[i], NULL);
	printf("tcmalloc: %ld pops, %ld pushes, %ld fences, %ld empty, %ld objects handed out twice\n",
	       atomic_load(&pops), atomic_load(&pushes), atomic_load(&fences),
	       atomic_load(&empties), atomic_load(&double_handouts));
	return atomic_load(&double_handouts) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: rseq_stress samecpu|tcmalloc [-L] [-q | -k KIND] [-a] [-m] [-g] [-z] [-S] [-p] [-e] [-s SECONDS] [-t THREADS] [-F]\n");
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
			/* Only one kind: syscall, sleep, signal, kernel or preempt */
			i++;
			opt_syscalls = !strcmp(argv[i], "syscall");
			opt_sleeps = !strcmp(argv[i], "sleep");
			opt_signals = !strcmp(argv[i], "signal");
			opt_kernel = !strcmp(argv[i], "kernel");
			if (!opt_syscalls && !opt_sleeps && !opt_signals && !opt_kernel &&
			    strcmp(argv[i], "preempt")) {
				fprintf(stderr, "rseq_stress: unknown kind %s\n", argv[i]);
				return 2;
			}
		}
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			opt_threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-F"))
			opt_fail = true;
		else if (!strcmp(argv[i], "-a"))
			opt_all = true;
		else if (!strcmp(argv[i], "-m"))
			opt_migrate = true;
		else if (!strcmp(argv[i], "-g"))
			opt_grow = true;
		else if (!strcmp(argv[i], "-z"))
			opt_zero = true;
		else if (!strcmp(argv[i], "-S"))
			opt_selfstop = true;
		else if (!strcmp(argv[i], "-p"))
			opt_pin = true;
		else if (!strcmp(argv[i], "-e"))
			opt_early = true;
		else {
			fprintf(stderr, "rseq_stress: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "samecpu"))
		return samecpu();
	if (!strcmp(argv[1], "tcmalloc"))
		return tcmalloc();
	return 2;
}
