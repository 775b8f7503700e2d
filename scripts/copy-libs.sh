#!/bin/sh
# scripts/copy-libs.sh BIN DEST - copy the shared libraries BIN loads,
# beyond the C library's own (libc, libm, libdl, librt, libpthread, the
# loader, libgcc_s, libstdc++), into DEST: what a binary compiled here
# (htslib's libraries, say) needs on a machine that lacks them, such as
# the lent GPU machine. Used by bench/gpu-table.sh,
# bench/gpu-error-split.sh and tests/gpu/device-tests.sh.
set -eu
ldd "$1" | awk '$3 ~ /^\// { print $3 }' |
	grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' |
	while read -r lib; do cp -L "$lib" "$2/"; done
