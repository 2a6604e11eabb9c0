// SPDX-License-Identifier: GPL-2.0
/*
 * failrun: run a program with user copy fault injection on it
 * (CONFIG_FAULT_INJECTION_USERCOPY, debugfs fail_usercopy, task filter).
 *
 *	failrun [-x CODE] [-p] PERCENT PROG [ARGS]
 *
 * Sets fail_usercopy to fail PERCENT % of the user copies of the tasks
 * that opted in, opts itself in (/proc/self/make-it-fail, inherited by
 * the program and its threads), and runs PROG. With failing copies
 * anywhere (execve, glibc, sigreturn), any exit status or signal is a
 * legitimate outcome, except exit CODE of PROG (-x: the code by which it
 * reports that the pattern it checks broke): failrun exits 1 then, and 0
 * otherwise, after printing the outcome and how many faults were
 * injected. Without -x, PROG's own status (128 + signal if killed).
 * -p: PROG opts its threads in itself once they are set up (rseq_stress
 * -F), so that execve and the setup are spared.
 * Exit 4 (skip) when the kernel has no fail_usercopy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest_util.h"

#define FI "/sys/kernel/debug/fail_usercopy/"

static long get(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return atol(buf);
}

int main(int argc, char **argv)
{
	int status, broken = -1;
	long left;
	pid_t pid;

	bool self = true;

	for (;;) {
		if (argc > 2 && !strcmp(argv[1], "-x")) {
			broken = atoi(argv[2]);
			argv += 2;
			argc -= 2;
		} else if (argc > 1 && !strcmp(argv[1], "-p")) {
			self = false;
			argv++;
			argc--;
		} else {
			break;
		}
	}
	if (argc < 3) {
		fprintf(stderr, "usage: failrun [-x CODE] [-p] PERCENT PROG [ARGS]\n");
		return 2;
	}
	if (access(FI "probability", W_OK)) {
		printf("failrun: no fail_usercopy in this kernel\n");
		return 4;
	}
	if (write_file(FI "task-filter", "Y") || write_file(FI "probability", argv[1]) ||
	    write_file(FI "interval", "1") || write_file(FI "times", "1000000") ||
	    write_file(FI "verbose", "0") ||
	    (self && write_file("/proc/self/make-it-fail", "1"))) {
		perror("failrun: fail_usercopy setup");
		return 2;
	}
	pid = fork();
	if (pid == 0) {
		execv(argv[2], argv + 2);
		_exit(127);
	}
	write_file("/proc/self/make-it-fail", "0");
	if (waitpid(pid, &status, 0) != pid)
		return 2;
	left = get(FI "times");
	write_file(FI "probability", "0");
	printf("failrun: %s %s %d, %ld user copies failed\n", argv[2],
	       WIFEXITED(status) ? "exited" : "killed by signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), 1000000 - left);
	if (broken >= 0)
		return WIFEXITED(status) && WEXITSTATUS(status) == broken;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
