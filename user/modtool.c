// SPDX-License-Identifier: GPL-2.0
/*
 * modtool: load and unload the out-of-tree rseq_rs module in the test
 * guests, which have no module utilities.
 *
 *	modtool load PATH [PARAMS]	finit_module(); then print rseq/impl
 *	modtool unload NAME		delete_module(); then print rseq/impl
 *	modtool cycle PATH N -- PROG [ARGS] [-- PROG [ARGS]]...
 *		run the PROGs in the background, load and unload PATH N times
 *		while they run (a PROG that finishes early is started again),
 *		then require every run to succeed and rseq/impl to be back on
 *		"c"
 *	modtool switch MS SECONDS -- PROG [ARGS] [-- PROG [ARGS]]...
 *		run the PROGs in the background (restarted as in cycle) and
 *		switch the implementation (rseq/impl: c, rust) and the legacy
 *		policy (rseq/legacy: historic, fence_reset, the two sufficient
 *		for the TCMalloc pattern) every MS milliseconds for SECONDS;
 *		every run must succeed; rseq/impl and rseq/legacy end on c and
 *		historic
 *
 * Exit 0 on success, 1 on failure, 4 (skip) if the module cannot be
 * loaded because the implementation is built in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int impl_is(const char *want)
{
	char buf[128] = "";
	int fd = open("/sys/kernel/debug/rseq/impl", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		buf[n] = 0;
	printf("rseq/impl: %s", buf);
	return strstr(buf, want) != NULL;
}

static int load(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		perror(path);
		return -1;
	}
	if (syscall(SYS_finit_module, fd, params, 0)) {
		int err = errno;

		close(fd);
		fprintf(stderr, "finit_module(%s): %s\n", path, strerror(err));
		errno = err;
		return -1;
	}
	close(fd);
	return 0;
}

static int unload(const char *name)
{
	if (syscall(SYS_delete_module, name, O_NONBLOCK)) {
		fprintf(stderr, "delete_module(%s): %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

#define MAX_PROGS 8

static pid_t spawn(char **prog)
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(prog[0], prog);
		_exit(127);
	}
	return pid;
}

static bool status_ok(int status)
{
	return WIFEXITED(status) && !WEXITSTATUS(status);
}

static int write_knob(const char *knob, const char *val)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/sys/kernel/debug/rseq/%s", knob);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* One step of cycle(): a module load and unload */
static int step_module(const char *path, int i)
{
	return load(path, "") || unload("rseq_rs") ? -1 : 0;
}

/* One step of switch: MS ms, then the next implementation and policy */
static int step_switch(const char *ms, int i)
{
	static const char *const policies[] = { "historic", "fence_reset" };

	usleep(atoi(ms) * 1000);
	if (write_knob("impl", i & 1 ? "rust" : "c") ||
	    write_knob("legacy", policies[(i >> 1) & 1])) {
		perror("rseq/impl, rseq/legacy");
		return -1;
	}
	return 0;
}

/*
 * Run step(arg) n times while the programs run; a program that finishes
 * before the steps do is started again, so the load stays on to the last
 * step. Every run of every program must succeed.
 */
static int cycle(int (*step)(const char *, int), const char *arg, int n, char ***progs,
		 int nprogs)
{
	pid_t pids[MAX_PROGS];
	int i, j, status, runs = 0, failed = 0;

	for (j = 0; j < nprogs; j++)
		pids[j] = spawn(progs[j]);
	for (i = 0; i < n && !failed; i++) {
		if (step(arg, i)) {
			failed++;
			break;
		}
		for (j = 0; j < nprogs; j++) {
			if (waitpid(pids[j], &status, WNOHANG) != pids[j])
				continue;
			runs++;
			if (!status_ok(status)) {
				fprintf(stderr, "%s failed under the cycles (status %#x)\n",
					progs[j][0], status);
				failed++;
			}
			pids[j] = spawn(progs[j]);
		}
	}
	for (j = 0; j < nprogs; j++) {
		if (failed)
			kill(pids[j], SIGKILL);
		if (waitpid(pids[j], &status, 0) != pids[j] || (!failed && !status_ok(status))) {
			fprintf(stderr, "%s failed under the cycles (status %#x)\n",
				progs[j][0], status);
			failed++;
		}
		runs++;
	}
	if (step == step_switch &&
	    (write_knob("impl", "c") || write_knob("legacy", "historic")))
		failed++;
	printf("%d %s done, %d program runs alongside, %d failed\n", i,
	       step == step_module ? "load/unload cycles" : "implementation and policy switches",
	       runs, failed);
	return !failed && impl_is("[c]") ? 0 : 1;
}

/* PROG [ARGS] [-- PROG [ARGS]]... from argv[first] (a "--"): the programs */
static int parse_progs(int argc, char **argv, int first, char ***progs)
{
	int i, nprogs = 0;

	for (i = first; i < argc && nprogs < MAX_PROGS; i++) {
		if (strcmp(argv[i], "--"))
			continue;
		argv[i] = NULL;
		if (i + 1 < argc)
			progs[nprogs++] = argv + i + 1;
	}
	return nprogs;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "load")) {
		if (load(argv[2], argc > 3 ? argv[3] : ""))
			return errno == EEXIST || errno == EBUSY ? 4 : 1;
		return impl_is("[rust]") || (argc > 3 && strstr(argv[3], "select=0")) ? 0 : 1;
	}
	if (argc >= 3 && !strcmp(argv[1], "unload")) {
		if (unload(argv[2]))
			return 1;
		return impl_is("[c]") ? 0 : 1;
	}
	if (argc >= 6 && !strcmp(argv[1], "cycle") && !strcmp(argv[4], "--")) {
		char **progs[MAX_PROGS];
		int nprogs = parse_progs(argc, argv, 4, progs);

		/* cycle PATH N -- PROG [ARGS] [-- PROG [ARGS]]... */
		return cycle(step_module, argv[2], atoi(argv[3]), progs, nprogs);
	}
	if (argc >= 6 && !strcmp(argv[1], "switch") && !strcmp(argv[4], "--") &&
	    atoi(argv[2]) > 0) {
		char **progs[MAX_PROGS];
		int nprogs = parse_progs(argc, argv, 4, progs);

		/* switch MS SECONDS -- PROG [ARGS] [-- PROG [ARGS]]... */
		return cycle(step_switch, argv[2], atoi(argv[3]) * 1000 / atoi(argv[2]), progs,
			     nprogs);
	}
	fprintf(stderr,
		"usage: modtool load PATH [PARAMS] | unload NAME | cycle PATH N -- PROG... [-- PROG...]"
		" | switch MS SECONDS -- PROG... [-- PROG...]\n");
	return 1;
}
