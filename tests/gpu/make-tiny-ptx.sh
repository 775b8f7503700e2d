#!/bin/sh
# Remake tiny_ptx.inc (the PTX of tiny_kernels.cu as a C string) with
# clang's NVPTX backend; the result is committed, so building the tests
# needs no CUDA-capable clang.
set -eu
cd "$(dirname "$0")"
clang-19 -x cuda --cuda-device-only --cuda-gpu-arch=sm_75 -nocudainc \
	-nocudalib -O2 -S -Wno-unknown-cuda-version -o - tiny_kernels.cu |
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' >tiny_ptx.inc
