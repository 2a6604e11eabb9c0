# SPDX-License-Identifier: GPL-2.0
# Common settings for the rseq-rs scripts. Source it; do not run it.
#
# Everything expensive lives in $RSEQ_RS_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/rseq-rs), outside the clone, so a fresh
# clone of the repository reuses the chroot, kernel trees and builds.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RSEQ_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rseq-rs}
CHROOT=$CACHE/chroot
TRIXIE_MIRROR=${TRIXIE_MIRROR:-http://deb.debian.org/debian}
# LLVM major shared by clang and the backports rustc (CONFIG_RUST_INLINE_HELPERS).
LLVM_VER=22
BINDGEN_VER=0.72.1
KVER=7.3

mkdir -p "$CACHE"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# step NAME CMD...: run CMD, say every minute that it is still running,
# then say how long it took.
step() {
	local name=$1 t0=$SECONDS rc=0 ticker
	shift
	log "== $name"
	(
		while sleep 60; do
			log "   ... $name: $((SECONDS - t0)) s so far"
		done
	) &
	ticker=$!
	"$@" || rc=$?
	kill "$ticker" 2>/dev/null
	wait "$ticker" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		log "== $name FAILED (rc=$rc) after $((SECONDS - t0)) s"
		return "$rc"
	fi
	log "== $name done in $((SECONDS - t0)) s"
}

# in_chroot CMD: run the shell command CMD in the toolchain chroot.
#
# /proc, /sys, /dev, the cache and the repository are bind-mounted at the
# same paths inside a private mount namespace, so every mount disappears
# with the command, whatever was mounted on the host before.
in_chroot() {
	[ -x "$CHROOT/usr/bin/env" ] || die "no toolchain chroot at $CHROOT (run scripts/toolchain)"
	RSEQ_RS_CHROOT_CMD=$1 unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1; shift
		mount --rbind /proc "$root/proc"
		mount --rbind /sys "$root/sys"
		mount --rbind /dev "$root/dev"
		for d in "$@"; do
			mkdir -p "$root$d"
			mount --bind "$d" "$root$d"
		done
		exec chroot "$root" /usr/bin/env -i \
			HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/cargo/bin:/usr/lib/llvm-'"$LLVM_VER"'/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			LIBCLANG_PATH=/usr/lib/llvm-'"$LLVM_VER"'/lib \
			CARGO_HOME=/usr/local/cargo \
			SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
			/bin/bash -c "$RSEQ_RS_CHROOT_CMD"
	' in_chroot "$CHROOT" "$CACHE" "$TOP" </dev/null
}

# series_files: the patches of the series in order, without the cover
# letter (0000-cover-letter.patch), one path per line.
series_files() {
	local p
	for p in "$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
		[ -e "$p" ] || continue
		case "${p##*/}" in 0000-*) continue ;; esac
		echo "$p"
	done
}

# am_pristine WORKTREE PATCH...: WORKTREE (a worktree of $CACHE/linux, made
# if missing) reset to pristine 7.3 and the patches applied with git am, as
# a maintainer would, with a fixed committer date (the same patches give
# the same commits). Returns 1 with git's message if a patch does not apply.
am_pristine() {
	local wt=$1 p out
	shift
	if [ ! -d "$wt" ]; then
		git -C "$CACHE/linux" worktree prune
		git -C "$CACHE/linux" worktree add -q --detach "$wt" "v$KVER-pristine" || return 1
	fi
	# An am left behind (a patch that did not apply, an interrupted run)
	git -C "$wt" am --abort >/dev/null 2>&1 || git -C "$wt" am --quit >/dev/null 2>&1 || true
	git -C "$wt" checkout -q -f --detach "v$KVER-pristine" || return 1
	git -C "$wt" clean -q -fdx || return 1
	for p in "$@"; do
		if ! out=$(GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" git -C "$wt" am -q "$p" 2>&1); then
			echo "$out" >&2
			git -C "$wt" am --abort >/dev/null 2>&1 || true
			echo "patch does not apply on v$KVER: patches/$(basename "$p")" >&2
			return 1
		fi
	done
}

# generated_patch: the patch of patches/ which adds kernel/rseq_rs/ (made
# by scripts/gen-rust-patch from rust/), if there is one.
generated_patch() {
	local p
	for p in $(series_files); do
		if grep -q '^ create mode 100644 kernel/rseq_rs/rseq_rs.rs$' "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# handwritten_series: series_files without the generated patch.
handwritten_series() {
	local gen p
	gen=$(generated_patch || true)
	for p in $(series_files); do
		[ "$p" = "$gen" ] || echo "$p"
	done
}

# commit_rust_sources WORKTREE: on top of the hand-written patches in
# WORKTREE, make the commit which adds rust/ as kernel/rseq_rs/ with the
# hookup of scripts/rust-patch (what scripts/gen-rust-patch formats).
# Fixed identity and dates: the same inputs give the same commit.
commit_rust_sources() {
	local wt=$1 f
	# Called as "commit_rust_sources ... || die": errexit is off in here.
	git -C "$wt" apply --index "$TOP/scripts/rust-patch/hooks.diff" || return 1
	for f in "$TOP"/rust/*.rs; do
		cp "$f" "$wt/kernel/rseq_rs/" || return 1
	done
	git -C "$wt" add -f kernel/rseq_rs || return 1
	GIT_AUTHOR_NAME='Seed 79e8896b maintainers' \
	GIT_AUTHOR_EMAIL='maintainers@users.noreply.b-seed-79e8896b.example' \
	GIT_AUTHOR_DATE='2026-11-30T00:00:00Z' GIT_COMMITTER_DATE='2026-11-30T00:00:00Z' \
		git -C "$wt" -c commit.gpgsign=false -c commit.cleanup=verbatim \
		commit -q -F "$TOP/scripts/rust-patch/msg"
}

# build_ext_module ARCH DIR [BUILD]: build the out-of-tree module from a
# copy of Kbuild and rust/ in DIR against the kernel build $CACHE/build/BUILD
# (default ARCH, the KUnit build); prints DIR/rust/rseq_rs.ko on success.
build_ext_module() {
	local arch=$1 dir=$2 build=${3:-$1} stamp
	# kbuild does not notice that the kernel's config changed under an
	# external module (struct module changes size with it): start over
	# when the kernel build is not the one the module was built against.
	stamp=$(cat "$CACHE/build/$build/.config" "$CACHE/build/$build/Module.symvers" 2>/dev/null |
		sha256sum | cut -c1-16)
	if [ "$(cat "$dir/.kernel-stamp" 2>/dev/null)" != "$build $stamp" ]; then
		rm -rf "$dir"
	fi
	mkdir -p "$dir/rust"
	echo "$build $stamp" >"$dir/.kernel-stamp"
	cp "$TOP/Kbuild" "$dir/"
	cp "$TOP"/rust/*.rs "$dir/rust/"
	in_chroot "cd '$CACHE/linux' && make -s ARCH=$arch O='$CACHE/build/$build' \
		LLVM=-$LLVM_VER M='$dir' modules" >&2 || return 1
	echo "$dir/rust/rseq_rs.ko"
}
