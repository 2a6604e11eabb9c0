// SPDX-License-Identifier: GPL-2.0
/*
 * rseq_hostile: bad rseq registrations and descriptors, each run once under
 * the C implementation and once under Rust (debugfs rseq/impl), in a
 * forked child pinned to CPU 0. The outcomes must be identical: the same
 * exit status or signal, the same return from the critical section, the
 * same signal handler runs, and the same user memory afterwards (the rseq
 * area and the descriptor live in a MAP_SHARED page the parent reads after
 * the child is gone).
 *
 *	rseq_hostile [-l] [-r N] [PREFIX...]
 *
 * runs the cases whose names start with one of the PREFIXes (default:
 * every case; -l lists them), each N times (default 1).
 *
 * Triggers of the critical section cases: "sig" (ITIMER_VIRTUAL: a signal
 * delivered on the timer tick that interrupts the section) and "preempt"
 * (a thread on the same CPU wakes up and preempts the section, so the exit
 * path evaluates it). Prints one line per case and implementation, and
 * "same"/"DIFFERENT"; exit 0 when every case is the same under both, 1
 * otherwise, 2 on a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rseq_user.h"
#include "guest_util.h"

#if defined(__x86_64__)
#define KERNEL_ADDR	0xffffffff81000000ull
#else
#define KERNEL_ADDR	0xffff800080000000ull
#endif

/* The page shared with the children */
struct shared {
	struct rseq_area area;
	char area_tail[256 - sizeof(struct rseq_area)];
	struct rseq_desc desc;
	char misaligned[64];
	int ret;		/* hs_spin(): 0 done, 1 aborted, 2 bad-signature abort */
	int handled;		/* signal handler runs */
	int stage;		/* how far the child got */
};

/* The critical section: spins until hs_flag is set */
extern char hs_begin[], hs_end[], hs_abort[], hs_abort_badsig[];
int hs_spin(void);
volatile int hs_flag;

#if defined(__x86_64__)
__asm__(".text\n"
	".globl hs_spin, hs_begin, hs_end, hs_abort, hs_abort_badsig\n"
	".type hs_spin, @function\n"
	"hs_spin:\n"
	"hs_begin:\n"
	"1:	pause\n"
	"	cmpl $0, hs_flag(%rip)\n"
	"	je 1b\n"
	"hs_end:\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	"	.byte 0x0f, 0xb9, 0x3d\n"
	"	.long 0x53053053\n"
	"hs_abort:\n"
	"	movl $1, %eax\n"
	"	ret\n"
	"	.byte 0x0f, 0xb9, 0x3d\n"
	"	.long 0x12345678\n"
	"hs_abort_badsig:\n"
	"	movl $2, %eax\n"
	"	ret\n");
#else
__asm__(".text\n"
	".globl hs_spin, hs_begin, hs_end, hs_abort, hs_abort_badsig\n"
	".type hs_spin, %function\n"
	"hs_spin:\n"
	"hs_begin:\n"
	"1:	yield\n"
	"	adrp x1, hs_flag\n"
	"	ldr w0, [x1, :lo12:hs_flag]\n"
	"	cbz w0, 1b\n"
	"hs_end:\n"
	"	mov w0, #0\n"
	"	ret\n"
	"	.inst 0xd428bc00\n"
	"hs_abort:\n"
	"	mov w0, #1\n"
	"	ret\n"
	"	.inst 0x12345678\n"
	"hs_abort_badsig:\n"
	"	mov w0, #2\n"
	"	ret\n");
#endif

static struct shared *sh;
/*
 * The registered area: the shared page's, so that the parent reads what
 * the kernel left in it, except in the fork case (see case_task())
 */
static struct rseq_area *area;

static void die(const char *what)
{
	fprintf(stderr, "rseq_hostile: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int do_register(struct rseq_area *area, bool legacy)
{
	return syscall(__NR_rseq, area, rseq_reg_len(legacy), 0, RSEQ_SIG);
}

/* Best effort: a case that cannot pin shows it in its outcome */
static void pin(int cpu)
{
	pin_to_cpu(cpu);
}

static void on_signal(int sig)
{
	sh->handled++;
	hs_flag = 1;
}

static void *waker(void *arg)
{
	pin(0);
	/*
	 * Sleep only once the section is about to be armed (stage 2 is set
	 * just before rseq_cs), so that it is what the wakeup preempts
	 */
	while (__atomic_load_n(&sh->stage, __ATOMIC_RELAXED) < 2)
		sched_yield();
	usleep(3000);
	hs_flag = 1;
	return NULL;
}

static void valid_desc(struct rseq_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->start_ip = (uintptr_t)hs_begin;
	d->post_commit_offset = hs_end - hs_begin;
	d->abort_ip = (uintptr_t)hs_abort;
}

/* Run the section with rseq_cs = csaddr, ended by the trigger */
static void run_section(uint64_t csaddr, bool preempt)
{
	pthread_t th;

	if (preempt) {
		if (pthread_create(&th, NULL, waker, NULL))
			die("pthread_create");
	} else {
		struct itimerval it = { .it_value = { .tv_usec = 5000 } };

		setitimer(ITIMER_VIRTUAL, &it, NULL);
	}
	sh->stage = 2;
	__atomic_store_n(&area->rseq_cs, csaddr, __ATOMIC_RELAXED);
	sh->ret = hs_spin();
	sh->stage = 3;
	/*
	 * A tick may have preempted the section before the trigger came: wait
	 * for the trigger, so that what it does (a handler run) is the same
	 * in every run
	 */
	if (preempt)
		pthread_join(th, NULL);
	while (!hs_flag)
		;
}

/* ----- the cases ----- */

enum desc_kind {
	D_VALID, D_KERNEL_PTR, D_UNMAPPED_PTR, D_MISALIGNED_PTR, D_ABORT_KERNEL,
	D_ABORT_INSIDE, D_ABORT_LOW, D_BAD_SIG, D_WRAP, D_VERSION, D_FLAGS,
};

static uint64_t make_desc(enum desc_kind k)
{
	struct rseq_desc *d = &sh->desc;
	void *p;

	valid_desc(d);
	switch (k) {
	case D_VALID:
		break;
	case D_KERNEL_PTR:
		return KERNEL_ADDR;
	case D_UNMAPPED_PTR:
		p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(p, 4096);
		return (uintptr_t)p;
	case D_MISALIGNED_PTR:
		memcpy(sh->misaligned + 4, d, sizeof(*d));
		return (uintptr_t)(sh->misaligned + 4);
	case D_ABORT_KERNEL:
		d->abort_ip = KERNEL_ADDR;
		break;
	case D_ABORT_INSIDE:
		d->abort_ip = (uintptr_t)hs_begin + 1;
		break;
	case D_ABORT_LOW:
		d->abort_ip = 2;
		break;
	case D_BAD_SIG:
		d->abort_ip = (uintptr_t)hs_abort_badsig;
		break;
	case D_WRAP:
		d->post_commit_offset = -(uint64_t)d->start_ip + 0x10;
		break;
	case D_VERSION:
		d->version = 1;
		break;
	case D_FLAGS:
		d->flags = 1;
		break;
	}
	return (uintptr_t)d;
}

struct hcase {
	const char *name;
	void (*fn)(const struct hcase *c);
	int arg;
	bool legacy;
	bool preempt;
	const char *policy;
};

static void case_desc(const struct hcase *c)
{
	if (do_register(area, c->legacy))
		die("rseq");
	sh->stage = 1;
	run_section(make_desc(c->arg), c->preempt);
	exit(0);
}

/* The area unmapped (0), made read-only (1), moved (2) or replaced (3) */
static void case_area(const struct hcase *c)
{
	struct rseq_area *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *q;

	if (a == MAP_FAILED || do_register(a, c->legacy))
		die("rseq");
	sh->stage = 1;
	switch (c->arg) {
	case 0:
		munmap(a, 4096);
		break;
	case 1:
		mprotect(a, 4096, PROT_READ);
		break;
	case 2:
		q = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mremap(a, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (char *)q + 4096);
		break;
	case 3:
		mmap(a, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		     -1, 0);
		break;
	}
	/*
	 * Context switches and a migration: the kernel writes the IDs. (No
	 * stage mark in between: which exit to user space is the first to
	 * write, the munmap()/mprotect() return or a later one, depends on
	 * the scheduling.)
	 */
	usleep(2000);
	pin(1);
	usleep(2000);
	pin(0);
	sh->stage = 3;
	if (c->arg == 3)
		sh->ret = a->cpu_id;
	exit(0);
}

static int child_rc(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return 100;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* fork (0), clone(CLONE_VM) (1) and execve (2) of a registered task */
static int clone_fn(void *arg)
{
	/*
	 * Not registered: the section is an ordinary loop here. A thread
	 * library would give this task its own TLS; it must not write the
	 * registered task's area (whether that one's kernel exit path then
	 * clears it would depend on the scheduling).
	 */
	static struct rseq_area own __attribute__((aligned(32)));
	struct itimerval it = { .it_value = { .tv_usec = 5000 } };

	setitimer(ITIMER_VIRTUAL, &it, NULL);
	__atomic_store_n(&own.rseq_cs, make_desc(D_VALID), __ATOMIC_RELAXED);
	return hs_spin() + 10;
}

static char *self_path;

static void case_task(const struct hcase *c)
{
	static char stack[65536] __attribute__((aligned(16)));
	/*
	 * fork: the area is private memory, as a thread's TLS is, so that
	 * the child's is its own copy. In the shared page both processes
	 * are registered on the same area: when the parent is preempted
	 * between fork() and waitpid() (interrupted in user mode) and the
	 * child then enters its section, the parent's next return to user
	 * space evaluates the child's rseq_cs against its own IP and clears
	 * it, and the child's section completes instead of aborting (a
	 * "clear" in rseq/stats in every such run, under C and Rust).
	 */
	static struct {
		struct rseq_area a;
		char tail[256 - sizeof(struct rseq_area)];	/* V2 length */
	} own __attribute__((aligned(256)));
	pid_t pid;

	if (c->arg == 0)
		area = &own.a;
	if (do_register(area, c->legacy))
		die("rseq");
	sh->stage = 1;
	switch (c->arg) {
	case 0:
		pid = fork();
		if (pid == 0) {
			/*
			 * The registration is inherited: a valid abort. (Preempted,
			 * not signalled: whether the itimer's signal of a fresh
			 * process lands inside the section varied between runs.)
			 * The parent reads the area from the shared page.
			 */
			run_section(make_desc(D_VALID), true);
			memcpy(&sh->area, &own.a, sizeof(own.a));
			_exit(sh->ret + 20);
		}
		exit(child_rc(pid));
	case 1:
		pid = clone(clone_fn, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
		exit(child_rc(pid));
	case 2:
		execl(self_path, self_path, "--exec-child", NULL);
		die("execl");
	}
}

/*
 * Write the read-only fields (cpu_id_start, cpu_id, node_id, mm_cid), then
 * migrate, so that the IDs are written on the way back: V2 and debug mode
 * check them.
 */
static void case_ro_write(const struct hcase *c)
{
	if (do_register(area, c->legacy))
		die("rseq");
	sh->stage = 1;
	sh->area.cpu_id_start = 77;
	sh->area.cpu_id = 77;
	sh->area.node_id = 77;
	sh->area.mm_cid = 77;
	sh->stage = 2;
	pin(1);
	usleep(1000);
	pin(0);
	sh->stage = 3;
	exit(0);
}

#define DESC(n, k)							\
	{ n "-v2-sig", case_desc, k, false, false, NULL },		\
	{ n "-v2-preempt", case_desc, k, false, true, NULL },		\
	{ n "-legacy-sig", case_desc, k, true, false, NULL },		\
	{ n "-legacy-preempt", case_desc, k, true, true, NULL }

static const struct hcase cases[] = {
	DESC("valid", D_VALID),
	DESC("cs-kernel-addr", D_KERNEL_PTR),
	DESC("cs-unmapped", D_UNMAPPED_PTR),
	DESC("cs-misaligned", D_MISALIGNED_PTR),
	DESC("abort-kernel-addr", D_ABORT_KERNEL),
	DESC("abort-inside", D_ABORT_INSIDE),
	DESC("abort-below-4", D_ABORT_LOW),
	DESC("bad-signature", D_BAD_SIG),
	DESC("offset-wraps", D_WRAP),
	DESC("version-1", D_VERSION),
	DESC("flags-1", D_FLAGS),
	{ "area-unmapped-v2", case_area, 0, false },
	{ "area-unmapped-legacy", case_area, 0, true },
	{ "area-readonly-v2", case_area, 1, false },
	{ "area-readonly-legacy", case_area, 1, true },
	{ "area-moved-v2", case_area, 2, false },
	{ "area-moved-legacy", case_area, 2, true },
	{ "area-replaced-v2", case_area, 3, false },
	{ "area-replaced-legacy", case_area, 3, true },
	{ "fork-v2", case_task, 0, false },
	{ "fork-legacy", case_task, 0, true },
	{ "clone-vm-v2", case_task, 1, false },
	{ "clone-vm-legacy", case_task, 1, true },
	{ "execve-v2", case_task, 2, false },
	{ "execve-legacy", case_task, 2, true },
	{ "ro-fields-v2", case_ro_write, 0, false },
	{ "ro-fields-legacy-historic", case_ro_write, 0, true, false, "historic" },
	{ "ro-fields-legacy-cs_reset", case_ro_write, 0, true, false, "cs_reset" },
	{ "ro-fields-legacy-fence_reset", case_ro_write, 0, true, false, "fence_reset" },
	{ "ro-fields-legacy-no_reset", case_ro_write, 0, true, false, "no_reset" },
};

/* One run: the outcome as a string */
static void run_case(const struct hcase *c, const char *impl, char *out, size_t len)
{
	pid_t pid;
	int rc;

	if (write_file("/sys/kernel/debug/rseq/impl", impl))
		die("rseq/impl");
	if (write_file("/sys/kernel/debug/rseq/legacy", c->policy ?: "historic"))
		die("rseq/legacy");
	memset(sh, 0, sizeof(*sh));
	sh->ret = -1;
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_signal };

		pin(0);
		alarm(20);	/* a hang becomes SIGALRM: an outcome like any other */
		hs_flag = 0;
		sigaction(SIGVTALRM, &sa, NULL);
		c->fn(c);
		exit(0);
	}
	rc = child_rc(pid);
	snprintf(out, len,
		 "status=%d stage=%d ret=%d handled=%d rseq_cs=%#llx cpu_id_start=%u cpu_id=%d node_id=%u mm_cid=%u desc=%u/%u/%#llx/%#llx/%#llx",
		 rc, sh->stage, sh->ret, sh->handled, (unsigned long long)sh->area.rseq_cs,
		 sh->area.cpu_id_start, (int)sh->area.cpu_id, sh->area.node_id, sh->area.mm_cid,
		 sh->desc.version, sh->desc.flags, (unsigned long long)sh->desc.start_ip,
		 (unsigned long long)sh->desc.post_commit_offset,
		 (unsigned long long)sh->desc.abort_ip);
}

static int exec_child(void)
{
	static struct rseq_area area __attribute__((aligned(256)));

	/* The registration died with the old image: registering works again */
	if (do_register(&area, true))
		return 3;
	return 0;
}

int main(int argc, char **argv)
{
	int i, j, r, repeat = 1, bad = 0, ran = 0;
	char c_out[512], rust_out[512];

	self_path = argv[0];
	if (argc > 1 && !strcmp(argv[1], "--exec-child"))
		return exec_child();
	if (argc > 1 && !strcmp(argv[1], "-l")) {
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-r")) {
		repeat = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	area = &sh->area;
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		const struct hcase *c = &cases[i];
		bool want = argc == 1;

		for (j = 1; j < argc; j++)
			want |= !strncmp(argv[j], c->name, strlen(argv[j]));
		for (r = 0; want && r < repeat; r++) {
			run_case(c, "c", c_out, sizeof(c_out));
			run_case(c, "rust", rust_out, sizeof(rust_out));
			ran++;
			/* fork: the inherited registration aborts the section */
			if (c->fn == case_task && c->arg == 0 &&
			    (strncmp(c_out, "status=21 ", 10) ||
			     strncmp(rust_out, "status=21 ", 10))) {
				bad++;
				printf("NO ABORT %s\n  c:    %s\n  rust: %s\n", c->name,
				       c_out, rust_out);
			} else if (strcmp(c_out, rust_out)) {
				bad++;
				printf("DIFFERENT %s\n  c:    %s\n  rust: %s\n", c->name,
				       c_out, rust_out);
			} else {
				printf("same %s: %s\n", c->name, c_out);
			}
		}
	}
	write_file("/sys/kernel/debug/rseq/impl", "c");
	write_file("/sys/kernel/debug/rseq/legacy", "historic");
	printf("rseq_hostile: %d cases, %d the same under C and Rust, %d different\n",
	       ran, ran - bad, bad);
	if (!ran)
		return 2;
	return bad ? 1 : 0;
}
