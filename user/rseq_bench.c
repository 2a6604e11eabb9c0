// SPDX-License-Identifier: GPL-2.0
/*
 * rseq_bench: instructions per operation of the rseq exit-to-user path,
 * C against Rust in the same boot, for scripts/bench.
 *
 * The guest runs under QEMU with -icount shift=0: guest time advances one
 * nanosecond per executed instruction, and the counter user space reads
 * (x86_64 TSC, arm64 CNTVCT_EL0) follows that clock. A counter delta is the
 * number of instructions all vCPUs executed in between (user and kernel,
 * interrupts included). Every wait in these scenarios is a pause/yield
 * loop, which makes QEMU's round-robin scheduler switch vCPUs at once, or
 * a sleep, so idle vCPUs do not count and spinning ones count little.
 *
 * Counts should not depend on when a round runs, or the medians of two
 * builds cannot be compared to the instruction. CFS's load tracking of the
 * woken and the preempted thread made them depend on it (branches on the
 * thread's history: whole rounds 3 instructions per wakeup or 20 to 50 per
 * preemption apart, the same for C and Rust), so the thread that sleeps and
 * wakes (wake, fence-wake) and both threads of the timer scenarios run
 * SCHED_FIFO. What is left: the kernel's clock keeps adjusting against the
 * TSC, which moves the instruction a timer fires at, so a timer scenario's
 * round can still land 8 or 14 instructions off the others.
 *
 *   rseq_bench [-r ROUNDS] [-s SCENARIO[,SCENARIO...]] [-u]
 *
 * Scenarios (each with the registrations and legacy policies it is run
 * under, see cells[]):
 *   syscall    getppid() loop with rseq registered: the no-event exit path
 *   yield      two threads on CPU 0 handing off with sched_yield()
 *   yield-proc two processes on CPU 0 handing off with sched_yield()
 *   wake       a thread on CPU 0 sleeping in futex_wait() is woken by a
 *              thread on CPU 1, runs, and sleeps again (nothing else runs
 *              on CPU 0 in between: idle time is skipped)
 *   fence-wake the same, with a MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ fence
 *              of CPU 0 before each wakeup: what a fence costs, the
 *              sleeper's reset included
 *   preempt-in a thread spinning inside a critical section on CPU 0 is
 *              preempted by a timer-woken thread: the abort path
 *   preempt-out the same, spinning outside the section with rseq_cs still
 *              set: the clear path
 *   membarrier MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ from CPU 1 against a
 *              thread in a critical section on CPU 0
 *   signal     a signal to a thread spinning in a critical section (sent
 *              by the timer-woken thread of preempt-in)
 *
 * For each round and each cell, the implementations (debugfs rseq/impl:
 * c, rust) are measured one after the other, so the report can pair them:
 * A B A B. -u: an unpatched kernel (no rseq/impl or rseq/legacy; the cells
 * that need a legacy policy other than historic are skipped).
 *
 * Output, one line per measurement:
 *   BENCH scen=S impl=I reg=R policy=P round=N ops=N instr=N batches=N
 *         median=N min=N period=N user=N
 *         stats=exit,signal,slowp,fastp,ids,cs,clear,fixup
 * instr is the counter delta summed over the batches, median and min the
 * median and smallest batch (preempt-out: the median over the phases of
 * the median of each phase, see phase_of(), which are printed as phases=),
 * period the timer period of preempt-* and signal (instructions of
 * spinning included), user the number of aborts (or clears seen) user
 * space counted, stats the rseq/stats deltas.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rseq_user.h"
#include "guest_util.h"

#define NSTATS 8
static const char *const stat_names[NSTATS] = {
	"exit", "signal", "slowp", "fastp", "ids", "cs", "clear", "fixup",
};

/* Room and alignment for any AT_RSEQ_FEATURE_SIZE / AT_RSEQ_ALIGN */
static __thread struct {
	struct rseq_area area;
	char tail[256];
} __attribute__((aligned(256))) rs_tls;
#define rs_area rs_tls.area
static bool unpatched;
static int rounds = 5;

static void die(const char *what)
{
	fprintf(stderr, "rseq_bench: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The instruction clock (see the top of the file) */
static inline uint64_t icount(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ __volatile__("lfence; rdtsc" : "=a" (lo), "=d" (hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
#else
	uint64_t v;

	__asm__ __volatile__("isb; mrs %0, cntvct_el0" : "=r" (v) :: "memory");
	return v;
#endif
}

/* Let the other vCPU run (QEMU's TCG switches vCPUs on pause / yield) */
static inline void relax(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* SCHED_FIFO at prio, or SCHED_OTHER for 0 */
static void set_fifo(int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	if (sched_setscheduler(0, prio ? SCHED_FIFO : SCHED_OTHER, &sp))
		die("sched_setscheduler");
}

static void pin(int cpu)
{
	if (pin_to_cpu(cpu))
		die("sched_setaffinity");
}

static void register_rseq(bool legacy)
{
	if (syscall(__NR_rseq, &rs_area, rseq_reg_len(legacy), 0, RSEQ_SIG))
		die("rseq registration (run with GLIBC_TUNABLES=glibc.pthread.rseq=0)");
}

static void unregister_rseq(bool legacy)
{
	if (syscall(__NR_rseq, &rs_area, rseq_reg_len(legacy), RSEQ_FLAG_UNREGISTER, RSEQ_SIG))
		die("rseq unregistration");
}

static void read_stats(uint64_t *v)
{
	char line[128], name[32];
	unsigned long long val;
	FILE *f = fopen("/sys/kernel/debug/rseq/stats", "r");
	int i;

	memset(v, 0, NSTATS * sizeof(*v));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31[a-z]: %llu", name, &val) != 2)
			continue;
		for (i = 0; i < NSTATS; i++)
			if (!strcmp(name, stat_names[i]))
				v[i] = val;
	}
	fclose(f);
}

static long futex(atomic_int *uaddr, int op, int val)
{
	return syscall(__NR_futex, uaddr, op, val, NULL, NULL, 0);
}

/* ----- shared state of the two-thread scenarios ----- */

static atomic_int seq;		/* A: a new round (futex word) */
static atomic_int done;		/* B: the round's preemption happened */
static atomic_int ready;
static atomic_bool stop;
static atomic_int mb_stop;	/* the membarrier target's section ends */
static _Atomic uint64_t deadline;
static bool send_signal;
static pid_t a_tid;
static long user_events;

/*
 * Spin in a critical section until *word == val. Returns 0 when the
 * section saw it, 1 when the section was aborted.
 */
static int spin_inside(atomic_int *word, int val)
{
#if defined(__x86_64__)
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"5:\n\t"
		"pause\n\t"
		"cmpl %[val], (%[word])\n\t"
		"jne 5b\n\t"
		RS_CS_END
		:
		: [rseq_cs] "m" (rs_area.rseq_cs), [word] "r" (word), [val] "r" (val)
		: "memory", "cc", "rax"
		: aborted);
#else
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"5:\n"
		"yield\n"
		"ldr w14, [%[word]]\n"
		"cmp w14, %w[val]\n"
		"b.ne 5b\n"
		RS_CS_END
		:
		: [rseq_cs] "Qo" (rs_area.rseq_cs), [word] "r" (word), [val] "r" (val)
		: "memory", "cc", "x14", "x15"
		: aborted);
#endif
	return 0;
aborted:
	return 1;
}

/* An empty critical section: leaves rseq_cs pointing at its descriptor */
static void empty_section(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"nop\n\t"
		RS_CS_END
		:
		: [rseq_cs] "m" (rs_area.rseq_cs)
		: "memory", "rax"
		: aborted);
#else
	__asm__ __volatile__ goto(
		RS_CS_BEGIN
		"nop\n"
		RS_CS_END
		:
		: [rseq_cs] "Qo" (rs_area.rseq_cs)
		: "memory", "x15"
		: aborted);
#endif
aborted:
	return;
}

/* ----- scenario bodies: return the number of operations ----- */

static bool cur_legacy;

static void *yield_partner(void *arg)
{
	pin(0);
	register_rseq(cur_legacy);
	atomic_store(&ready, 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		sched_yield();
	unregister_rseq(cur_legacy);
	return NULL;
}

/*
 * The timer-woken thread B of preempt-* and signal, on CPU 0 with A: it
 * waits for a round, sleeps until A's deadline (A spins meanwhile), and its
 * wakeup preempts A.
 */
static void *waker(void *arg)
{
	struct sched_param sp = { .sched_priority = 2 };
	int s = 0;

	pin(0);
	prctl(PR_SET_TIMERSLACK, 1);
	/*
	 * Real-time above A (SCHED_FIFO 1 while it measures): the waker
	 * preempts A at once, as an interrupt-driven wakeup would
	 */
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		die("sched_setscheduler");
	atomic_store(&ready, 1);
	for (;;) {
		struct timespec ts;
		uint64_t t;

		while (atomic_load(&seq) == s)
			futex(&seq, FUTEX_WAIT_PRIVATE, s);
		s = atomic_load(&seq);
		if (s < 0)
			return NULL;
		t = atomic_load(&deadline);
		ts.tv_sec = t / 1000000000ull;
		ts.tv_nsec = t % 1000000000ull;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		if (send_signal)
			syscall(__NR_tgkill, getpid(), a_tid, SIGUSR1);
		atomic_store(&done, s);
	}
}

static void on_sigusr1(int sig)
{
}

/*
 * preempt-out ends when A, spinning outside its section in a loop of a few
 * instructions, sees B's store: how many instructions that takes after A is
 * resumed depends on where in its loop the timer interrupted it, i.e. on the
 * length of everything A ran since the round started, modulo the loop
 * length. A change of a few instructions on that path (A's own syscall exit
 * included) then moves the result by up to a loop length, in either
 * direction. So batch b runs phase_of(b) more single instructions before
 * its loop (they replace spinning: the timer fires at the same instant),
 * the batches cover every phase of any loop of up to 4 instructions (and
 * of 6 and 12) equally, and measure() reports the median over the phases
 * of the median batch of each phase. (preempt-in and signal abort to a fixed
 * address: where the loop was interrupted does not matter there.)
 */
#define PHASES		12
static int phase_of(int b)
{
	return b % PHASES;
}

/* Runs 8 + p (x86_64) or 4 + p (arm64) instructions, 0 <= p < 16 */
static inline void run_phase(unsigned int p)
{
#if defined(__x86_64__)
	__asm__ __volatile__(
		"testl $1, %0; jz 1f; nop; 1:\n\t"
		"testl $2, %0; jz 2f; nop; nop; 2:\n\t"
		"testl $4, %0; jz 3f; .rept 4; nop; .endr; 3:\n\t"
		"testl $8, %0; jz 4f; .rept 8; nop; .endr; 4:"
		: : "r"(p) : "cc", "memory");
#else
	__asm__ __volatile__(
		"tbz %w0, #0, 1f; nop; 1:\n\t"
		"tbz %w0, #1, 2f; nop; nop; 2:\n\t"
		"tbz %w0, #2, 3f; .rept 4; nop; .endr; 3:\n\t"
		"tbz %w0, #3, 4f; .rept 8; nop; .endr; 4:"
		: : "r"(p) : "memory");
#endif
}

/* A's side of preempt-in, preempt-out and signal: round i, period ns */
static void timer_round(int i, uint64_t period, bool inside)
{
	atomic_store(&deadline, now_ns() + period);
	atomic_store(&seq, i);
	futex(&seq, FUTEX_WAKE_PRIVATE, 1);
	if (inside) {
		while (atomic_load(&done) != i)
			user_events += spin_inside(&done, i);
	} else {
		empty_section();
		run_phase(phase_of(i));
		while (atomic_load_explicit(&done, memory_order_relaxed) != i)
			relax();
		user_events += !rs_area.rseq_cs;
	}
}

/* yield-proc: the other process, forked with the registration of its parent */
static void yield_child(atomic_int *child_stop)
{
	pin(0);
	while (!atomic_load_explicit(child_stop, memory_order_relaxed))
		sched_yield();
	_exit(0);
}

/* wake, fence-wake: the sleeper on CPU 0 */
static atomic_int wake_seq, wake_ack;

static void *sleeper(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	int s = 0;

	pin(0);
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		die("sched_setscheduler");
	register_rseq(cur_legacy);
	atomic_store(&ready, 1);
	for (;;) {
		while (atomic_load(&wake_seq) == s)
			futex(&wake_seq, FUTEX_WAIT_PRIVATE, s);
		s = atomic_load(&wake_seq);
		if (s < 0)
			break;
		atomic_store(&wake_ack, s);
	}
	unregister_rseq(cur_legacy);
	return NULL;
}

/* One wakeup of the sleeper, after a fence of its CPU if fence */
static void wake_round(bool fence)
{
	int s = atomic_load(&wake_seq) + 1;

	if (fence && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
			     MEMBARRIER_CMD_FLAG_CPU, 0))
		die("membarrier");
	atomic_store(&wake_seq, s);
	futex(&wake_seq, FUTEX_WAKE_PRIVATE, 1);
	/* Until it ran and is about to sleep again */
	while (atomic_load(&wake_ack) != s)
		relax();
}

static void *membarrier_target(void *arg)
{
	pin(0);
	register_rseq(cur_legacy);
	atomic_store(&ready, 1);
	while (!atomic_load_explicit(&mb_stop, memory_order_relaxed))
		user_events += spin_inside(&mb_stop, 1);
	unregister_rseq(cur_legacy);
	return NULL;
}

/* ----- cells ----- */

enum scen {
	SYSCALL, YIELD, YIELD_PROC, WAKE, FENCE_WAKE, PREEMPT_IN, PREEMPT_OUT, MEMBARRIER,
	SIGNAL, NR_SCENS
};
static const char *const scen_names[] = {
	"syscall", "yield", "yield-proc", "wake", "fence-wake", "preempt-in", "preempt-out",
	"membarrier", "signal",
};

struct cell {
	enum scen scen;
	bool legacy;
	const char *policy;
};

static const struct cell cells[] = {
	{ SYSCALL, false, "historic" },
	{ SYSCALL, true, "historic" },
	{ YIELD, false, "historic" },
	{ YIELD, true, "historic" },
	{ YIELD, true, "cs_reset" },
	{ YIELD, true, "fence_reset" },
	{ YIELD_PROC, false, "historic" },
	{ YIELD_PROC, true, "historic" },
	{ YIELD_PROC, true, "cs_reset" },
	{ YIELD_PROC, true, "fence_reset" },
	{ WAKE, false, "historic" },
	{ WAKE, true, "historic" },
	{ WAKE, true, "cs_reset" },
	{ WAKE, true, "fence_reset" },
	{ FENCE_WAKE, false, "historic" },
	{ FENCE_WAKE, true, "historic" },
	{ FENCE_WAKE, true, "cs_reset" },
	{ FENCE_WAKE, true, "fence_reset" },
	{ PREEMPT_IN, false, "historic" },
	{ PREEMPT_IN, true, "historic" },
	{ PREEMPT_IN, true, "cs_reset" },
	{ PREEMPT_IN, true, "fence_reset" },
	{ PREEMPT_OUT, false, "historic" },
	{ PREEMPT_OUT, true, "historic" },
	{ PREEMPT_OUT, true, "cs_reset" },
	{ PREEMPT_OUT, true, "fence_reset" },
	{ MEMBARRIER, false, "historic" },
	{ MEMBARRIER, true, "historic" },
	{ MEMBARRIER, true, "cs_reset" },
	{ MEMBARRIER, true, "fence_reset" },
	{ SIGNAL, false, "historic" },
	{ SIGNAL, true, "historic" },
	{ SIGNAL, true, "cs_reset" },
	{ SIGNAL, true, "fence_reset" },
};

/*
 * A measurement is BATCHES batches of batch_ops[] operations each, every
 * batch timed on its own: the median batch is free of the timer ticks and
 * other interrupts that hit some of them. PERIOD_NS: the timer period of
 * the timer scenarios (one round per batch).
 */
#define BATCHES		200
#define PERIOD_NS	100000
static const int batch_ops[] = {
	[SYSCALL] = 100, [YIELD] = 25, [YIELD_PROC] = 25, [WAKE] = 10, [FENCE_WAKE] = 10,
	[PREEMPT_IN] = 1, [PREEMPT_OUT] = 1, [MEMBARRIER] = 10, [SIGNAL] = 1,
};

/* One batch of scenario c; b numbers the batches from 1 */
static void run_batch(const struct cell *c, int b, uint64_t period)
{
	int i, n = batch_ops[c->scen];

	switch (c->scen) {
	case SYSCALL:
		for (i = 0; i < n; i++)
			syscall(__NR_getppid);
		break;
	case YIELD:
	case YIELD_PROC:
		for (i = 0; i < n; i++)
			sched_yield();
		break;
	case WAKE:
	case FENCE_WAKE:
		for (i = 0; i < n; i++)
			wake_round(c->scen == FENCE_WAKE);
		break;
	case PREEMPT_IN:
	case SIGNAL:
		timer_round(b, period, true);
		break;
	case PREEMPT_OUT:
		timer_round(b, period, false);
		break;
	case MEMBARRIER:
		for (i = 0; i < n; i++)
			if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0))
				die("membarrier");
		break;
	default:
		break;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v[0..n) and returns its median */
static double median_of(double *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * preempt-out: the median of the batches of each phase (delta[b - 1] is
 * batch b) in phases[], and the median over the phases. A sweep over every
 * phase of a loop of L instructions gives each of L consecutive values
 * PHASES / L times, so their median is their mean; unlike the mean, it
 * does not move much when ticks hit most batches of one phase.
 */
static double phase_median(const uint64_t *delta, double *phases)
{
	double v[BATCHES / PHASES + 1], sorted[PHASES];
	int p, b, n;

	_Static_assert(BATCHES >= PHASES, "a batch per phase at least");
	for (p = 0; p < PHASES; p++) {
		n = 0;
		for (b = 1; b <= BATCHES; b++)
			if (phase_of(b) == p)
				v[n++] = delta[b - 1];
		phases[p] = sorted[p] = median_of(v, n);
	}
	return median_of(sorted, PHASES);
}

static void measure(const struct cell *c, const char *impl, int round)
{
	uint64_t s0[NSTATS], s1[NSTATS], t0, t1, period = 0, total = 0;
	uint64_t delta[BATCHES];
	double median, phases[PHASES];
	atomic_int *child_stop = NULL;
	pid_t child = 0;
	pthread_t th = 0;
	long ops;
	int i, b;

	if (!unpatched) {
		if (write_file("/sys/kernel/debug/rseq/impl", impl))
			die("rseq/impl");
		if (write_file("/sys/kernel/debug/rseq/legacy", c->policy))
			die("rseq/legacy");
	}
	cur_legacy = c->legacy;
	user_events = 0;
	atomic_store(&ready, 0);
	atomic_store(&stop, false);
	atomic_store(&mb_stop, 0);
	atomic_store(&seq, 0);
	atomic_store(&done, 0);
	atomic_store(&wake_seq, 0);
	atomic_store(&wake_ack, 0);
	pin(c->scen == MEMBARRIER || c->scen == WAKE || c->scen == FENCE_WAKE ? 1 : 0);
	register_rseq(c->legacy);

	switch (c->scen) {
	case YIELD:
		if (pthread_create(&th, NULL, yield_partner, NULL))
			die("pthread_create");
		while (!atomic_load(&ready))
			sched_yield();
		break;
	case YIELD_PROC:
		child_stop = mmap(NULL, sizeof(*child_stop), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (child_stop == MAP_FAILED)
			die("mmap");
		atomic_store(child_stop, 0);
		child = fork();
		if (child < 0)
			die("fork");
		if (!child)
			yield_child(child_stop);
		/* Until the child runs on CPU 0 */
		for (i = 0; i < 10; i++)
			sched_yield();
		break;
	case WAKE:
	case FENCE_WAKE:
		if (pthread_create(&th, NULL, sleeper, NULL))
			die("pthread_create");
		while (!atomic_load(&ready))
			relax();
		break;
	case PREEMPT_IN:
	case PREEMPT_OUT:
	case SIGNAL:
		send_signal = c->scen == SIGNAL;
		a_tid = gettid();
		period = PERIOD_NS;
		if (pthread_create(&th, NULL, waker, NULL))
			die("pthread_create");
		while (!atomic_load(&ready))
			sched_yield();
		set_fifo(1);
		break;
	case MEMBARRIER:
		if (pthread_create(&th, NULL, membarrier_target, NULL))
			die("pthread_create");
		while (!atomic_load(&ready))
			relax();
		/* Let the target enter its section once */
		for (i = 0; i < 1000; i++)
			relax();
		break;
	default:
		break;
	}

	read_stats(s0);
	for (b = 1; b <= BATCHES; b++) {
		t0 = icount();
		run_batch(c, b, period);
		t1 = icount();
		delta[b - 1] = t1 - t0;
		total += t1 - t0;
	}
	ops = (long)BATCHES * batch_ops[c->scen];
	/* Each yield is two context switches: to the partner and back */
	if (c->scen == YIELD || c->scen == YIELD_PROC)
		ops *= 2;
	read_stats(s1);
	set_fifo(0);

	atomic_store(&stop, true);
	atomic_store(&mb_stop, 1);
	if (c->scen == PREEMPT_IN || c->scen == PREEMPT_OUT || c->scen == SIGNAL) {
		atomic_store(&seq, -1);
		futex(&seq, FUTEX_WAKE_PRIVATE, 1);
	}
	if (c->scen == WAKE || c->scen == FENCE_WAKE) {
		atomic_store(&wake_seq, -1);
		futex(&wake_seq, FUTEX_WAKE_PRIVATE, 1);
	}
	if (th)
		pthread_join(th, NULL);
	if (child) {
		atomic_store(child_stop, 1);
		waitpid(child, NULL, 0);
		munmap(child_stop, sizeof(*child_stop));
	}
	unregister_rseq(c->legacy);

	median = c->scen == PREEMPT_OUT ? phase_median(delta, phases) : 0;
	qsort(delta, BATCHES, sizeof(delta[0]), cmp_u64);
	if (c->scen != PREEMPT_OUT)
		median = delta[BATCHES / 2];
	printf("BENCH scen=%s impl=%s reg=%s policy=%s round=%d ops=%ld instr=%llu batches=%d median=%.3f min=%llu period=%llu user=%ld stats=",
	       scen_names[c->scen], unpatched ? "unpatched" : impl,
	       c->legacy ? "legacy" : "v2", c->policy, round, ops,
	       (unsigned long long)total, BATCHES, median,
	       (unsigned long long)delta[0], (unsigned long long)period, user_events);
	for (i = 0; i < NSTATS; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)(s1[i] - s0[i]));
	if (c->scen == PREEMPT_OUT)
		for (i = 0; i < PHASES; i++)
			printf("%s%.1f", i ? "," : " phases=", phases[i]);
	printf("\n");
	fflush(stdout);
}

/*
 * The clock check: a user-space loop of known length. Under -icount
 * shift=0 the delta is its instruction count plus whatever interrupts
 * came in between.
 */
static void clock_check(void)
{
	const long iters = 1000000;
	uint64_t t0, t1;
	long i = iters;

	t0 = icount();
#if defined(__x86_64__)
	/* 2 instructions per iteration */
	__asm__ __volatile__("1: decq %0\n\tjnz 1b" : "+r" (i) :: "cc");
#else
	__asm__ __volatile__("1: subs %0, %0, #1\n\tb.ne 1b" : "+r" (i) :: "cc");
#endif
	t1 = icount();
	printf("BENCH clock-check loop_instructions=%ld counter_delta=%llu\n",
	       2 * iters, (unsigned long long)(t1 - t0));
}

int main(int argc, char **argv)
{
	bool want[NR_SCENS];
	int opt, r, i, s;

	for (s = 0; s < NR_SCENS; s++)
		want[s] = true;
	while ((opt = getopt(argc, argv, "r:s:u")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			memset(want, 0, sizeof(want));
			for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ","))
				for (s = 0; s < NR_SCENS; s++)
					if (!strcmp(tok, scen_names[s]))
						want[s] = true;
			break;
		case 'u':
			unpatched = true;
			break;
		default:
			fprintf(stderr, "usage: rseq_bench [-r ROUNDS] [-s SCENARIO,...] [-u]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_sigusr1);
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0))
		die("membarrier register");
	clock_check();
	for (r = 1; r <= rounds; r++) {
		for (i = 0; i < (int)(sizeof(cells) / sizeof(cells[0])); i++) {
			const struct cell *c = &cells[i];

			if (!want[c->scen])
				continue;
			if (unpatched && strcmp(c->policy, "historic"))
				continue;
			measure(c, "c", r);
			if (!unpatched)
				measure(c, "rust", r);
		}
	}
	if (!unpatched) {
		write_file("/sys/kernel/debug/rseq/impl", "c");
		write_file("/sys/kernel/debug/rseq/legacy", "historic");
	}
	return 0;
}
