#!/bin/sh
# scripts/copy-libs.sh BIN DEST [SKIPDIR] - copy the shared libraries BIN
# loads, beyond the C library's own (libc, libm, libdl, librt,
# libpthread, libutil, the loader, libgcc_s, libstdc++), into DEST: what
# a binary compiled here (htslib's libraries, say) needs on a machine that
# lacks them, such as the lent GPU machine. Libraries SKIPDIR already
# holds (by name) and those DEST has are left out. Used by
# bench/gpu-table.sh, bench/gpu-error-split.sh, bench/mpi-scaling.sh
# (SKIPDIR: the Open MPI it carries) and tests/gpu/device-tests.sh.
set -eu
ldd "$1" | awk '$3 ~ /^\// { print $1, $3 }' |
	grep -v -E ' /.*/(libc|libm|libdl|librt|libpthread|libutil|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' |
	while read -r name lib; do
		[ -n "${3:-}" ] && [ -e "$3/$name" ] && continue
		[ -e "$2/$name" ] && continue
		cp -L "$lib" "$2/$name"
	done
