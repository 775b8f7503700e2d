#!/bin/sh
# gemm_ratio.sh - build bench/gemm_ratio.c (the generated projection
# kernels against OpenBLAS sgemm on the same shapes, one process, one
# thread) and run it; arguments go to gemm_ratio (--batch, --seq-len,
# --d-model, --reps, --target-cpu). OpenBLAS picks its own kernels
# (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed, as bench/run does for
# the peer) unless it does not know the CPU (below). Environment: BUILD
# (default build).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if ! pkg-config --exists openblas; then
	echo "gemm_ratio.sh: OpenBLAS missing (apt-get install libopenblas-dev)" >&2
	exit 1
fi
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target gemm_ratio -j2 >/dev/null
# OpenBLAS 0.3.21 takes a CPU it does not know (a VM's "Intel Xeon
# Processor" Sapphire Rapids, say) for a Prescott and runs its generic
# kernels at a tenth of its speed; then name the core its CPU flags say.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
core=$("$BUILD/gemm_ratio" --blas-core)
case $core in
Prescott|Core2|Nehalem|Katmai|Coppermine|Northwood|Banias|Atom)
	if grep -qw avx512f /proc/cpuinfo; then
		OPENBLAS_CORETYPE=SkylakeX
	elif grep -qw avx2 /proc/cpuinfo; then
		OPENBLAS_CORETYPE=Haswell
	fi
	[ -n "${OPENBLAS_CORETYPE:-}" ] && export OPENBLAS_CORETYPE
	echo "# OpenBLAS took this CPU for $core; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
	;;
esac
OPENBLAS_NUM_THREADS=1 exec "$BUILD/gemm_ratio" "$@"
