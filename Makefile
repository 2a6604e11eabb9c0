# SPDX-License-Identifier: GPL-2.0
#
# rseq-rs front door.  "make run" is the main job, "make test" the tests.
#
# When the kernel build system includes this directory as an external
# module (make -C KDIR M=$PWD), it reads Kbuild, not this file.

CACHE_DIR := $(or $(RSEQ_RS_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rseq-rs)

.PHONY: help run test bench robustness toolchain tree kunit-x86_64 kunit-arm64 check-series \
	series apply-to-tree clean-cache

help:
	@echo 'rseq-rs: the rseq exit-to-user path of Linux 7.3 in Rust'
	@echo
	@echo '  make run            main job: make test, the fuller guest tiers, the'
	@echo '                      validation matrix, the series check, make bench,'
	@echo '                      make robustness, the report'
	@echo '  make test           the tests (what .ci/run runs): toolchain, tree,'
	@echo '                      KUnit and guests on x86_64 and arm64'
	@echo '  make bench          A/B benchmark C vs Rust (and unpatched 7.3) under'
	@echo '                      QEMU -icount: results/bench.{md,json,png}'
	@echo '  make robustness     debug kernels (KASAN, lockdep, UBSAN), hostile user'
	@echo '                      space, fail_usercopy, module cycles under load:'
	@echo '                      results/robustness.{md,json}'
	@echo '  make toolchain      Debian trixie chroot with the build toolchain (~5 min once)'
	@echo '  make tree           unpack linux-source-7.3 and apply patches/ (git am)'
	@echo '  make kunit-ARCH     build and run KUnit for ARCH = x86_64 | arm64'
	@echo '  make check-series   the generated last patch is up to date; checkpatch'
	@echo '                      --strict on every patch; git am of patches/ alone on'
	@echo '                      7.3: every prefix builds on x86_64 and arm64'
	@echo '  make series         regenerate the last patch (kernel/rseq_rs/) from rust/'
	@echo '  make apply-to-tree KDIR=/path/to/linux-7.3'
	@echo '                      apply patches/ to your own tree'
	@echo '  make clean-cache    remove the cache ($(CACHE_DIR))'
	@echo
	@echo 'Cache: $$RSEQ_RS_CACHE, default $${XDG_CACHE_HOME:-$$HOME/.cache}/rseq-rs'

run:
	@scripts/run

test:
	@scripts/test

bench:
	@scripts/bench

robustness:
	@scripts/robustness

toolchain:
	@scripts/toolchain

tree: toolchain
	@scripts/tree

kunit-x86_64 kunit-arm64: tree
	@scripts/kunit $(patsubst kunit-%,%,$@)

check-series: tree
	@scripts/check-series

series: tree
	@scripts/gen-rust-patch

apply-to-tree:
	@scripts/apply-to-tree $(KDIR)

clean-cache:
	rm -rf --one-file-system '$(CACHE_DIR)'
