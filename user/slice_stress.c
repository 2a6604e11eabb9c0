// SPDX-License-Identifier: GPL-2.0
/*
 * slice_stress: 7.3's time slice extension (struct rseq::slice_ctrl,
 * prctl(PR_RSEQ_SLICE_EXTENSION), rseq_slice_yield(2)) under preemption,
 * signals and migrations, checking what user space may rely on rather
 * than printing counts (the kernel's slice_test only prints them).
 *
 *   slice_stress [-L | -n] [-d | -c] [-m] [-s SECONDS] [-t WORKERS_PER_CPU]
 *   slice_stress -R
 *
 * Per CPU: WORKERS_PER_CPU (default 2) workers and a noise thread pinned
 * there (it spins 2 us and sleeps 50 us, as slice_test's noise thread:
 * its wakeups preempt the workers); one thread signals a random worker
 * every millisecond; the extension is set to its maximum (rseq/slice_ext_nsec
 * 50 us, put back afterwards). A worker's round: slice_ctrl must be 0; it sets
 * request, spins for a random time up to twice the extension
 * (rseq/slice_ext_nsec; in three rounds of four it stops early once
 * granted, as a section shorter than the extension would), reads
 * slice_ctrl once (32 bits) and
 *   0      the kernel cleared the request: the task was scheduled (its IDs
 *          updated on the way out, the path which clears slice_ctrl of a V2
 *          registration) or a signal was pending (no grant with other work)
 *   1      no preemption: the worker clears request, reads it again; a
 *          grant may have come in between (0x100), else 0
 *   0x100  granted (request cleared by the kernel in the same store): the
 *          worker ends the extension by rseq_slice_yield(2) (which returns
 *          0 or 1), by another system call (getppid) or by spinning until
 *          the kernel revokes it (the expiry timer; 1 s bound); in each case
 *          slice_ctrl is 0 afterwards
 * anything else (both bits, reserved bits) is a kernel bug, as is a grant
 * without a request. At least one grant is required: a run which never
 * reached the grant path proves nothing.
 *   -n  V2 registration without the extension (prctl not called): a grant
 *       is a bug; the kernel may clear request (V2 exits clear slice_ctrl)
 *   -L  legacy (32-byte) registration: slice_ctrl's word (bytes 28-31) is
 *       not the kernel's (TCMalloc keeps its own data there). prctl must
 *       fail with ENOTSUPP (RSEQ_FLAG_SLICE_EXT_DEFAULT_ON at registration,
 *       which half the workers pass, must not enable it), the flags field
 *       must not announce the extension, and a pattern the worker stores in
 *       that word (request and granted set among others) must never change
 *   -c  one section in four makes a system call (getppid) with request set,
 *       as the ABI allows ("onion layer" applications)
 *   -d  rseq/debug on while running (the kernel then checks slice_ctrl at
 *       system call entry after a grant, and the read-only fields). No
 *       system call with request set then, signals blocked in the rounds:
 *       7.3 kills a task that makes one after an interrupt revoked its
 *       previous grant (the check wants slice_ctrl 0; C code, the same
 *       under both implementations)
 *   -m  workers move to the next CPU every 64 rounds
 *   -R  the reproducer of that 7.3 behaviour: a child pinned to CPU 1 with
 *       a noise thread gets a grant, spins until the kernel revokes it,
 *       sets request and calls getppid() with rseq/debug on. Exit 0 when
 *       the kernel kills it with SIGSEGV (what 7.3 does), 1 when it
 *       survives 20 times (the check was fixed: this line must change)
 * Half the V2 workers enable the extension with RSEQ_FLAG_SLICE_EXT_DEFAULT_ON
 * at registration, the other half with the prctl. Prints the counts and the
 * rseq/stats deltas (s_granted ...). Exit 0: pass; 1: an invariant broke;
 * 2: setup failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/prctl.h>
#include <linux/rseq.h>

#include "guest_util.h"
#include "rseq_user.h"

#ifndef __NR_rseq_slice_yield
#define __NR_rseq_slice_yield 471
#endif
#define ENOTSUPP 524
/* slice_ctrl as one 32-bit word: request is byte 0, granted byte 1 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the CTRL_* values assume little-endian (x86_64, arm64)"
#endif
#define CTRL_REQUEST 0x1u
#define CTRL_GRANTED 0x100u
#define DEBUGFS "/sys/kernel/debug/rseq/"

static __thread struct {
	struct rseq area;
	char tail[256];
} __attribute__((aligned(256))) tls;

static bool opt_legacy, opt_off, opt_debug, opt_migrate, opt_syscall, opt_repro;
static int opt_seconds = 5, opt_workers = 2;
static long ncpus, slice_ns = 5000, old_slice_ns;
static atomic_bool stop;
static atomic_int failed;
static pthread_t *workers;
static int nworkers;

/* What a worker is doing, for the SIGSEGV report */
enum phase { P_IDLE, P_REQUEST, P_SECTION_SYSCALL, P_YIELD, P_SYSCALL, P_EXPIRY, P_MOVE };
static const char *const phase_names[] = {
	/* (threads other than the workers stay "between rounds") */
	"between rounds", "request set", "getppid with request set",
	"rseq_slice_yield", "getppid when granted", "waiting for expiry",
	"sched_setaffinity",
};
static __thread volatile enum phase phase;

static struct counts {
	atomic_long rounds, cleared, completed, late, granted, yielded1,
		yielded0, syscalled, expired, signals, moves;
} cnt;

static void setup_failed(const char *what)
{
	fprintf(stderr, "slice_stress: %s: %s\n", what, strerror(errno));
	exit(2);
}

#define fail(...)							\
	do {								\
		printf("FAIL: " __VA_ARGS__);				\
		atomic_store(&failed, 1);				\
		atomic_store(&stop, true);				\
	} while (0)

static volatile uint32_t *ctrl_word(void)
{
	/* slice_ctrl's offset: bytes 28-31, inside the original 32 bytes */
	return (volatile uint32_t *)((char *)&tls.area + offsetof(struct rseq, slice_ctrl));
}

static volatile uint8_t *ctrl_request(void)
{
	return (volatile uint8_t *)ctrl_word();
}

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void spin_ns(long ns)
{
	long end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/*
 * Critical sections spin by iteration counts, not by clock_gettime(): on a
 * guest whose clocksource has no vDSO support (hpet under QEMU/TCG) every
 * clock_gettime() is a system call, and a system call inside the section
 * is its own case (-c). iters_per_us is measured at start.
 */
static long iters_per_us = 100;

static void spin_iters(long n, bool poll)
{
	long i;

	for (i = 0; i < n && !(poll && *ctrl_word() & CTRL_GRANTED); i++)
		__asm__ __volatile__("" ::: "memory");
}

static void calibrate(void)
{
	long t0 = now_ns(), n = 0, i;

	while (now_ns() - t0 < 20000000L) {
		for (i = 0; i < 10000; i++)
			__asm__ __volatile__("" ::: "memory");
		n += 10000;
	}
	iters_per_us = n / 20000 ?: 1;
}

/* A random section length up to twice the extension, in iterations */
static long section_iters(uint32_t *seed);

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* rseq/debug and rseq/slice_ext_nsec as they were (async-signal-safe) */
static char old_slice_str[24];

static void restore_knobs(void)
{
	if (opt_debug)
		write_file(DEBUGFS "debug", "0");
	if (old_slice_str[0])
		write_file(DEBUGFS "slice_ext_nsec", old_slice_str);
}

static void on_signal(int sig)
{
	atomic_fetch_add(&cnt.signals, 1);
}

/*
 * The kernel kills with SIGSEGV what breaks the rseq ABI (rseq/debug's
 * checks among others): say where the worker was
 */
static void put_str(const char *str)
{
	if (write(1, str, strlen(str)) < 0)
		return;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	uint32_t v = *ctrl_word();
	char hex[9];
	int i;

	for (i = 7; i >= 0; i--, v >>= 4)
		hex[i] = "0123456789abcdef"[v & 15];
	hex[8] = 0;
	put_str("FAIL: SIGSEGV from the kernel, thread's phase: ");
	put_str(phase_names[phase]);
	put_str(", slice_ctrl 0x");
	put_str(hex);
	put_str("\n");
	restore_knobs();
	_exit(1);
}

static void register_thread(int id)
{
	unsigned int flags = id & 1 ? RSEQ_FLAG_SLICE_EXT_DEFAULT_ON : 0;

	if (opt_off)
		flags = 0;
	if (syscall(__NR_rseq, &tls.area, rseq_reg_len(opt_legacy), flags, RSEQ_SIG))
		setup_failed("rseq registration (run with GLIBC_TUNABLES=glibc.pthread.rseq=0)");
	if (opt_legacy) {
		/* ENOTSUPP: what 7.3 returns (rseq.rst does not list the case) */
		errno = 0;
		if (prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_SET,
			  PR_RSEQ_SLICE_EXT_ENABLE, 0, 0) != -1 || errno != ENOTSUPP)
			fail("legacy registration: prctl SET returned errno %d, not ENOTSUPP\n", errno);
		if (tls.area.flags & (RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE |
				      RSEQ_CS_FLAG_SLICE_EXT_ENABLED))
			fail("legacy registration: flags 0x%x announce the extension\n",
			     tls.area.flags);
	} else if (!opt_off && !flags) {
		if (prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_SET,
			  PR_RSEQ_SLICE_EXT_ENABLE, 0, 0))
			setup_failed("prctl(PR_RSEQ_SLICE_EXTENSION_SET)");
	}
	if (!opt_legacy) {
		/* V2: available, enabled as asked, and flags says the same */
		unsigned int want = RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE |
				    (opt_off ? 0 : RSEQ_CS_FLAG_SLICE_EXT_ENABLED);
		long on = prctl(PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_GET, 0, 0, 0);

		if (on != (opt_off ? 0 : PR_RSEQ_SLICE_EXT_ENABLE))
			fail("worker %d: prctl GET %ld after %s\n", id, on,
			     opt_off ? "registering without it" :
			     flags ? "RSEQ_FLAG_SLICE_EXT_DEFAULT_ON" : "the prctl");
		if ((tls.area.flags & (RSEQ_CS_FLAG_SLICE_EXT_AVAILABLE |
				       RSEQ_CS_FLAG_SLICE_EXT_ENABLED)) != want)
			fail("worker %d: flags 0x%x, extension bits 0x%x expected\n", id,
			     tls.area.flags, want);
	}
}

/* Granted: end the extension one of three ways; slice_ctrl is 0 after */
static void end_grant(uint32_t *seed)
{
	uint32_t how = xorshift(seed) % 4, v;
	long ret, end;

	atomic_fetch_add(&cnt.granted, 1);
	phase = how < 2 ? P_YIELD : how == 2 ? P_SYSCALL : P_EXPIRY;
	if (how < 2) {
		ret = syscall(__NR_rseq_slice_yield);
		if (ret != 0 && ret != 1)
			fail("rseq_slice_yield returned %ld\n", ret);
		atomic_fetch_add(ret ? &cnt.yielded1 : &cnt.yielded0, 1);
	} else if (how == 2) {
		syscall(__NR_getppid);
		atomic_fetch_add(&cnt.syscalled, 1);
	} else {
		/* one second, and no system call: that would end the grant */
		for (end = iters_per_us * 1000000L; end && *ctrl_word() == CTRL_GRANTED; end--)
			__asm__ __volatile__("" ::: "memory");
		atomic_fetch_add(&cnt.expired, 1);
	}
	v = *ctrl_word();
	if (v)
		fail("slice_ctrl 0x%x after the grant ended (%s)\n", v,
		     how < 2 ? "rseq_slice_yield" : how == 2 ? "getppid" : "expiry");
}

static void v2_round(uint32_t *seed)
{
	uint32_t v = *ctrl_word();
	sigset_t usr1;

	/*
	 * -d: no system call while request is set, not even the signal
	 * handler's rt_sigreturn(): after a grant that an interrupt revoked,
	 * 7.3's debug check at system call entry (rseq_slice_validate_ctrl(),
	 * C for both implementations) wants slice_ctrl to be 0 and kills a
	 * task that has set request again (README, "found")
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (opt_debug)
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);

	if (v)
		fail("slice_ctrl 0x%x at the start of a round\n", v);
	phase = P_REQUEST;
	*ctrl_request() = 1;
	/*
	 * The critical section: it ends early once granted (it is shorter
	 * than the extension), except in one round of four, which runs on
	 * into the expiry timer
	 */
	spin_iters(section_iters(seed), xorshift(seed) % 4);
	if (opt_syscall && !(xorshift(seed) % 4)) {
		phase = P_SECTION_SYSCALL;
		syscall(__NR_getppid);
		phase = P_REQUEST;
	}
	v = *ctrl_word();
	if (v == CTRL_REQUEST) {
		*ctrl_request() = 0;
		v = *ctrl_word();
		if (v == CTRL_GRANTED)
			atomic_fetch_add(&cnt.late, 1);
		else if (v == 0)
			atomic_fetch_add(&cnt.completed, 1);
	} else if (v == 0) {
		atomic_fetch_add(&cnt.cleared, 1);
	}
	if (v == CTRL_GRANTED) {
		if (opt_off)
			fail("granted without the extension enabled\n");
		end_grant(seed);
	} else if (v) {
		fail("slice_ctrl 0x%x after a request\n", v);
	}
	phase = P_IDLE;
	if (opt_debug)
		pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
}

static void legacy_round(uint32_t *seed)
{
	/* request and granted set, the rest changes every round */
	uint32_t pattern = (xorshift(seed) & 0xffff0000u) | 0x0101u, v;

	*ctrl_word() = pattern;
	spin_iters(section_iters(seed), false);
	if (xorshift(seed) % 4 == 0)
		syscall(__NR_getppid);
	v = *ctrl_word();
	if (v != pattern)
		fail("legacy: the word at slice_ctrl's offset changed 0x%x -> 0x%x\n",
		     pattern, v);
	else
		atomic_fetch_add(&cnt.completed, 1);
}

static long section_iters(uint32_t *seed)
{
	return xorshift(seed) % (2 * slice_ns / 1000 * iters_per_us + 1);
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	uint32_t seed = 2463534242u + id * 7919u;
	long cpu = id % ncpus, round = 0;

	pin_to_cpu(cpu);
	register_thread(id);
	while (!atomic_load(&stop)) {
		if (opt_legacy)
			legacy_round(&seed);
		else
			v2_round(&seed);
		atomic_fetch_add(&cnt.rounds, 1);
		if (opt_migrate && !(++round % 64)) {
			cpu = (cpu + 1) % ncpus;
			phase = P_MOVE;
			pin_to_cpu(cpu);
			phase = P_IDLE;
			atomic_fetch_add(&cnt.moves, 1);
		}
	}
	if (!opt_legacy && *ctrl_word() & ~CTRL_REQUEST)
		fail("slice_ctrl 0x%x at the end\n", *ctrl_word());
	return NULL;
}

static void *noise(void *arg);

/*
 * -R, in a child: get a grant, let the kernel revoke it (expiry timer or
 * preemption: no system call), set request again and call getppid().
 * With rseq/debug on, 7.3 kills the task there. Exit 3 if it survived 20
 * such sequences, 4 if no grant came.
 */
static int repro(void)
{
	long cpu = ncpus > 1 ? 1 : 0, n;
	uint32_t seed = 2463534242u;
	int survived = 0, tries;
	pthread_t th;

	pin_to_cpu(cpu);
	register_thread(0);
	if (pthread_create(&th, NULL, noise, (void *)cpu))
		setup_failed("pthread_create");
	for (tries = 0; tries < 1000000 && survived < 20; tries++) {
		*ctrl_request() = 1;
		spin_iters(section_iters(&seed), true);
		if (*ctrl_word() != CTRL_GRANTED) {
			*ctrl_request() = 0;
			continue;
		}
		for (n = iters_per_us * 1000000L; n && *ctrl_word() == CTRL_GRANTED; n--)
			__asm__ __volatile__("" ::: "memory");
		if (*ctrl_word())
			continue;
		*ctrl_request() = 1;
		syscall(__NR_getppid);
		*ctrl_request() = 0;
		survived++;
	}
	printf("reproducer: %d grants revoked by the kernel, then a system call with request set survived\n",
	       survived);
	return survived ? 3 : 4;
}

static int run_repro(void)
{
	int status;
	pid_t pid;

	if (write_file(DEBUGFS "debug", "1"))
		setup_failed("rseq/debug");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(repro());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		setup_failed("fork");
	write_file(DEBUGFS "debug", "0");
	restore_knobs();
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
		printf("killed by SIGSEGV, as 7.3's debug check does: PASS\n");
		return 0;
	}
	printf("not killed (%s %d): has the debug check been fixed? FAIL\n",
	       WIFSIGNALED(status) ? "signal" : "exit",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return 1;
}

static void *noise(void *arg)
{
	struct timespec ts = { 0, 50000 };

	pin_to_cpu((long)arg);
	while (!atomic_load(&stop)) {
		spin_ns(2000);
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	}
	return NULL;
}

static void *signaler(void *arg)
{
	struct timespec ts = { 0, 1000000 };
	uint32_t seed = 88172645u;

	while (!atomic_load(&stop)) {
		pthread_kill(workers[xorshift(&seed) % nworkers], SIGUSR1);
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	}
	return NULL;
}

static const char *const stat_names[] = {
	"sgrant", "sexpir", "srevok", "syield", "sabort",
};
#define NSTATS (sizeof(stat_names) / sizeof(stat_names[0]))

/* rseq/stats' slice counters; false without CONFIG_RSEQ_STATS */
static bool read_stats(unsigned long *val)
{
	FILE *f = fopen(DEBUGFS "stats", "r");
	char name[16];
	unsigned long v;
	size_t i;

	if (!f)
		return false;
	memset(val, 0, NSTATS * sizeof(*val));
	while (fscanf(f, "%15[^:]: %lu\n", name, &v) == 2)
		for (i = 0; i < NSTATS; i++)
			if (!strcmp(name, stat_names[i]))
				val[i] = v;
	fclose(f);
	return true;
}

static long read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "r");
	long v;

	if (!f)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long before[NSTATS], after[NSTATS];
	pthread_t sig_thread, *noise_threads;
	bool stats;
	size_t i;
	int opt;

	while ((opt = getopt(argc, argv, "LndmcRs:t:")) != -1) {
		switch (opt) {
		case 'R': opt_repro = true; break;
		case 'c': opt_syscall = true; break;
		case 'L': opt_legacy = true; break;
		case 'n': opt_off = true; break;
		case 'd': opt_debug = true; break;
		case 'm': opt_migrate = true; break;
		case 's': opt_seconds = atoi(optarg); break;
		case 't': opt_workers = atoi(optarg); break;
		default: return 2;
		}
	}
	if (opt_debug && opt_syscall) {
		fprintf(stderr, "slice_stress: -c with -d: see -d\n");
		return 2;
	}
	if (rseq_reg_len(opt_legacy) > sizeof(tls))
		setup_failed("AT_RSEQ_FEATURE_SIZE beyond the area");
	if (!opt_legacy && rseq_reg_len(false) < offsetof(struct rseq, slice_ctrl) + 4) {
		errno = ENOTSUPP;
		setup_failed("no slice_ctrl in the kernel's rseq feature size");
	}
	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	/*
	 * The longest extension the kernel allows (50 us): under QEMU/TCG the
	 * default 5 us can be gone before the exit path arms its timer, and
	 * the grant is then revoked before user space sees it
	 */
	old_slice_ns = read_long(DEBUGFS "slice_ext_nsec", 0);
	if (old_slice_ns) {
		snprintf(old_slice_str, sizeof(old_slice_str), "%ld", old_slice_ns);
		write_file(DEBUGFS "slice_ext_nsec", "50000");
	}
	slice_ns = read_long(DEBUGFS "slice_ext_nsec", slice_ns);
	calibrate();
	if (opt_repro)
		return run_repro();
	if (opt_debug && write_file(DEBUGFS "debug", "1"))
		setup_failed("rseq/debug");
	signal(SIGUSR1, on_signal);
	sigaction(SIGSEGV, &(struct sigaction){ .sa_sigaction = on_segv,
						.sa_flags = SA_SIGINFO }, NULL);

	nworkers = ncpus * opt_workers;
	workers = calloc(nworkers, sizeof(*workers));
	noise_threads = calloc(ncpus, sizeof(*noise_threads));
	if (!workers || !noise_threads)
		setup_failed("calloc");
	stats = read_stats(before);
	for (i = 0; i < (size_t)nworkers; i++)
		if (pthread_create(&workers[i], NULL, worker, (void *)(long)i))
			setup_failed("pthread_create");
	for (i = 0; i < (size_t)ncpus; i++)
		if (pthread_create(&noise_threads[i], NULL, noise, (void *)(long)i))
			setup_failed("pthread_create");
	if (pthread_create(&sig_thread, NULL, signaler, NULL))
		setup_failed("pthread_create");

	for (i = 0; i < (size_t)opt_seconds * 10 && !atomic_load(&stop); i++)
		usleep(100000);
	atomic_store(&stop, true);
	pthread_join(sig_thread, NULL);
	for (i = 0; i < (size_t)nworkers; i++)
		pthread_join(workers[i], NULL);
	for (i = 0; i < (size_t)ncpus; i++)
		pthread_join(noise_threads[i], NULL);
	restore_knobs();

	printf("%s, %ld CPUs x %d workers, %d s, extension %ld ns (%ld iterations/us)%s%s%s\n",
	       opt_legacy ? "legacy" : opt_off ? "V2, extension off" : "V2, extension on",
	       ncpus, opt_workers, opt_seconds, slice_ns, iters_per_us,
	       opt_debug ? ", rseq/debug" : "", opt_migrate ? ", migrating" : "",
	       opt_syscall ? ", system calls in sections" : "");
	printf("rounds %ld: cleared %ld, completed %ld, late grant %ld; granted %ld: yield 1 %ld, yield 0 %ld, syscall %ld, expiry %ld; signals %ld, moves %ld\n",
	       cnt.rounds, cnt.cleared, cnt.completed, cnt.late, cnt.granted,
	       cnt.yielded1, cnt.yielded0, cnt.syscalled, cnt.expired, cnt.signals,
	       cnt.moves);
	stats = stats && read_stats(after);
	if (stats) {
		printf("rseq/stats:");
		for (i = 0; i < NSTATS; i++)
			printf(" %s +%lu", stat_names[i], after[i] - before[i]);
		printf("\n");
	}
	if (!opt_legacy && !opt_off && !cnt.granted)
		fail("no grant in %ld rounds: the grant path was not exercised\n", cnt.rounds);
	if (opt_off && !cnt.cleared)
		fail("-n: no request was ever cleared by the kernel: no section was interrupted\n");
	/*
	 * Only these workers use the extension while it runs: every
	 * rseq_slice_yield() that returned 1 is one s_yielded, and some
	 * grants must have run into the expiry timer
	 */
	if (stats && !opt_legacy && !opt_off) {
		if (after[3] - before[3] != (unsigned long)cnt.yielded1)
			fail("rseq/stats syield +%lu, rseq_slice_yield() returned 1 %ld times\n",
			     after[3] - before[3], cnt.yielded1);
		if (after[1] == before[1])
			fail("rseq/stats sexpir +0: no grant ran into the expiry timer\n");
	}
	if (!cnt.signals)
		fail("no signal delivered\n");
	printf("%s\n", atomic_load(&failed) ? "FAIL" : "PASS");
	return atomic_load(&failed);
}
