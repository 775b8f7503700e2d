#!/bin/sh
# gemm_ratio.sh - the generated projection kernels against OpenBLAS sgemm
# on the same shapes (bench/gemm_ratio.c: one process, one thread).
#
#   gemm_ratio.sh [ARGS]              build gemm_ratio and run it here
#   gemm_ratio.sh --pack DIR [ARGS]   compile the kernels (ARGS as for
#                                     gemm_ratio: --batch, --seq-len,
#                                     --d-model, --target-cpu) into DIR,
#                                     with gemm_ratio_run and the shared
#                                     libraries it needs, for a machine
#                                     without LLVM 19 (the lent 16-core one)
#   gemm_ratio.sh --packed DIR [--reps R]   run a packed DIR (no build)
#
# ARGS go to gemm_ratio (--batch, --seq-len, --d-model, --reps,
# --target-cpu). OpenBLAS picks its own kernels (OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE removed, as bench/run does for the peer) unless it
# does not know the CPU (below). Environment: BUILD (default build).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mode=jit
case ${1:-} in
--pack|--packed)
	[ $# -ge 2 ] || { echo "usage: gemm_ratio.sh $1 DIR [ARGS]" >&2; exit 2; }
	mode=${1#--}
	dir=$2
	shift 2
	;;
esac
if [ "$mode" != packed ]; then
	if ! pkg-config --exists openblas; then
		echo "gemm_ratio.sh: OpenBLAS missing (apt-get install libopenblas-dev)" >&2
		exit 1
	fi
	cmake -S . -B "$BUILD" >/dev/null
	cmake --build "$BUILD" --target gemm_ratio gemm_ratio_run -j2 >/dev/null
fi
if [ "$mode" = pack ]; then
	rm -rf "$dir"
	mkdir -p "$dir/lib"
	"$BUILD/gemm_ratio" --write-objects "$dir" "$@"
	for o in "$dir"/*.o; do
		cc -shared -o "${o%.o}.so" "$o"
		rm "$o"
	done
	cp "$BUILD/gemm_ratio_run" "$dir/"
	# the runner's libraries that a machine without Debian's may lack
	ldd "$BUILD/gemm_ratio_run" | awk '/openblas|gfortran|quadmath|fftw3f/ {print $3}' |
		while read -r so; do cp -L "$so" "$dir/lib/"; done
	echo "gemm_ratio.sh: packed into $dir ($(du -sh "$dir" | cut -f1))"
	exit 0
fi
if [ "$mode" = packed ]; then
	run() { LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$dir/gemm_ratio_run" "$dir" "$@"; }
	corename() { run --blas-core; }
else
	run() { "$BUILD/gemm_ratio" "$@"; }
	corename() { "$BUILD/gemm_ratio" --blas-core; }
fi
# OpenBLAS 0.3.21 takes a CPU it does not know (a VM's "Intel Xeon
# Processor" Sapphire Rapids, say) for a Prescott and runs its generic
# kernels at a tenth of its speed; then name the core its CPU flags say.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
core=$(corename)
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
OPENBLAS_NUM_THREADS=1 run "$@"
