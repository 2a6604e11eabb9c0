// SPDX-License-Identifier: GPL-2.0
/*
 * init for the rseq-rs test guests: mount what the tests need, run the plan
 * in /plan, print the results as TAP on the console, and power off.
 *
 * Each line of /plan is
 *
 *	name;impl;legacy;timeout;program [args...]
 *
 * impl (c, rust) and legacy (historic, cs_reset, fence_reset, no_reset) are
 * written to debugfs rseq/impl and rseq/legacy before the program runs ("-"
 * leaves them as they are). A program that exits 0 within timeout seconds passes;
 * exit code 4 (the kselftest "skip") is reported as a TAP skip. A program
 * field starting with "!N " or "!sigN " expects exit code N or death by
 * signal N instead (a test that must catch a broken policy); "!N@ARCH "
 * (x86_64, arm64) expects it on ARCH only and success elsewhere. Lines
 * starting with '#' are comments.
 *
 * Built static for x86_64 and arm64 by scripts/guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_util.h"

#define KSFT_SKIP 4
#if defined(__x86_64__)
#define GUEST_ARCH "x86_64"
#else
#define GUEST_ARCH "arm64"
#endif

static void cat_file(const char *path, const char *prefix)
{
	char buf[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f))
		printf("%s%s", prefix, buf);
	fclose(f);
}

static void setup(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
	setenv("PATH", "/bin", 1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run argv with a timeout; returns a wait status, or -1 on timeout */
static int run(char **argv, int timeout)
{
	pid_t pid = fork();
	int status, waited = 0;

	if (pid == 0) {
		int fd = open("/tmp/out", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* The program's own output becomes TAP diagnostics afterwards */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		chdir("/bin");
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		return 127 << 8;
	/* Poll: no SIGALRM games with a forked child in a minimal init */
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (waited >= timeout * 10) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(100000);
		waited++;
	}
}

int main(void)
{
	char line[1024];
	int n = 0, failed = 0;
	FILE *plan;

	setup();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	cat_file("/sys/kernel/debug/rseq/impl", "# rseq/impl: ");
	cat_file("/sys/kernel/debug/rseq/legacy", "# rseq/legacy: ");
	plan = fopen("/plan", "r");
	if (!plan) {
		printf("Bail out! no /plan\n");
		goto out;
	}
	while (fgets(line, sizeof(line), plan)) {
		char *fields[5], *argv[32], *p = line, *name;
		int i, status, argc = 0, timeout, expect_code, expect_sig;
		double t0;

		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		for (i = 0; i < 5; i++)
			fields[i] = strsep(&p, ";");
		if (!fields[4]) {
			printf("# bad plan line: %s\n", line);
			continue;
		}
		name = fields[0];
		timeout = atoi(fields[3]);
		expect_code = 0;
		expect_sig = 0;
		if (fields[4][0] == '!') {
			char *e = strsep(&fields[4], " ");
			char *arch = strchr(e, '@');

			/* "!N@ARCH": the expectation holds on ARCH, elsewhere success */
			if (arch && strcmp(arch + 1, GUEST_ARCH))
				e = "!0";
			if (!strncmp(e, "!sig", 4))
				expect_sig = atoi(e + 4);
			else
				expect_code = atoi(e + 1);
		}
		for (p = strtok(fields[4], " "); p && argc < 31; p = strtok(NULL, " "))
			argv[argc++] = p;
		argv[argc] = NULL;

		n++;
		if (strcmp(fields[1], "-") && write_file("/sys/kernel/debug/rseq/impl", fields[1])) {
			printf("not ok %d %s # cannot select impl %s\n", n, name, fields[1]);
			failed++;
			continue;
		}
		if (strcmp(fields[2], "-") && write_file("/sys/kernel/debug/rseq/legacy", fields[2])) {
			printf("not ok %d %s # cannot select legacy policy %s\n", n, name, fields[2]);
			failed++;
			continue;
		}
		if (strcmp(fields[1], "-"))
			cat_file("/sys/kernel/debug/rseq/impl", "# rseq/impl: ");
		t0 = now();
		status = run(argv, timeout);
		cat_file("/tmp/out", "#   ");
		if (status == -1) {
			printf("not ok %d %s # timeout after %d s\n", n, name, timeout);
			failed++;
		} else if (expect_sig || expect_code) {
			if (expect_sig ? WIFSIGNALED(status) && WTERMSIG(status) == expect_sig :
			    WIFEXITED(status) && WEXITSTATUS(status) == expect_code) {
				printf("ok %d %s # failed as expected (%s %d)\n", n, name,
				       expect_sig ? "signal" : "exit", expect_sig ?: expect_code);
			} else {
				printf("not ok %d %s # expected %s %d, got status %#x\n", n, name,
				       expect_sig ? "signal" : "exit", expect_sig ?: expect_code,
				       status);
				failed++;
			}
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d %s # %.1f s\n", n, name, now() - t0);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP) {
			printf("ok %d %s # SKIP\n", n, name);
		} else if (WIFEXITED(status)) {
			printf("not ok %d %s # exit %d\n", n, name, WEXITSTATUS(status));
			failed++;
		} else {
			printf("not ok %d %s # signal %d\n", n, name, WTERMSIG(status));
			failed++;
		}
	}
	fclose(plan);
	printf("1..%d\n", n);
	cat_file("/sys/kernel/debug/rseq/stats", "# rseq/stats: ");
	printf("# guest done: %d run, %d failed\n", n, failed);
out:
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
