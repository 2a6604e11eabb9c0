// SPDX-License-Identifier: GPL-2.0
/*
 * node_check: the rseq IDs of every CPU against getcpu(), for the NUMA
 * guests (user/plans/slice.plan: two nodes of two CPUs each).
 *
 *   node_check [-l] [-n MIN_NODES]
 *
 * Registers an rseq area (-l: a legacy 32-byte one, else V2), then on each
 * online CPU in turn: pins itself there, yields (an exit to user space on
 * that CPU after the migration), and checks that cpu_id_start, cpu_id and
 * node_id are what getcpu() returns there. Fails unless at least MIN_NODES
 * (default 2) distinct node IDs were seen, so that a kernel writing node 0
 * everywhere cannot pass on a NUMA machine. Exit 0 on success, 1 on a
 * mismatch.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest_util.h"
#include "rseq_user.h"

/* Room and alignment for any AT_RSEQ_FEATURE_SIZE / AT_RSEQ_ALIGN */
static __thread struct {
	struct rseq_area area;
	char tail[256];
} __attribute__((aligned(256))) tls;
#define area tls.area

int main(int argc, char **argv)
{
	bool legacy = false, seen[1024] = { false };
	int opt, min_nodes = 2, nodes = 0, bad = 0;
	long cpu, ncpus = sysconf(_SC_NPROCESSORS_ONLN);

	while ((opt = getopt(argc, argv, "ln:")) != -1) {
		if (opt == 'l')
			legacy = true;
		else if (opt == 'n')
			min_nodes = atoi(optarg);
		else
			return 2;
	}
	if (rseq_reg_len(legacy) > sizeof(tls)) {
		printf("rseq feature size %u beyond the area\n", rseq_reg_len(legacy));
		return 1;
	}
	if (syscall(__NR_rseq, &area, rseq_reg_len(legacy), 0, RSEQ_SIG)) {
		perror("rseq");
		return 1;
	}
	for (cpu = 0; cpu < ncpus; cpu++) {
		unsigned int c, node;

		if (pin_to_cpu(cpu)) {
			perror("sched_setaffinity");
			return 1;
		}
		sched_yield();
		if (syscall(__NR_getcpu, &c, &node, NULL)) {
			perror("getcpu");
			return 1;
		}
		printf("cpu %ld: getcpu %u node %u, rseq cpu_id_start %u cpu_id %u node_id %u mm_cid %u\n",
		       cpu, c, node, area.cpu_id_start, area.cpu_id, area.node_id, area.mm_cid);
		if (area.cpu_id_start != c || area.cpu_id != c || area.node_id != node) {
			printf("mismatch on CPU %ld\n", cpu);
			bad = 1;
		}
		if (node < 1024 && !seen[node]) {
			seen[node] = true;
			nodes++;
		}
	}
	if (nodes < min_nodes) {
		printf("%d node IDs seen, %d expected at least\n", nodes, min_nodes);
		bad = 1;
	}
	return bad;
}
