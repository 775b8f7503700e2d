#!/bin/bash
# tests/gpu/device-run.sh - everything this project runs on a lent GPU
# machine (2 GPUs, no LLVM 19, no Open MPI) in one call, in two halves:
#
#   tests/gpu/device-run.sh prepare [ARCHIVE]   where hyenac is built:
#       tests/gpu/device-tests.sh prepare (golden cases, random models,
#       the 32k case; fp32 and bf16) and bench/mpi-scaling.sh --prepare
#       --gpu (small-32k --target cuda --mpi, its libraries, Debian 12's
#       Open MPI runtime, checked here under env -i), packed into one
#       xz archive (default build-gpurun/gpurun.tar.xz, git-ignored by
#       the build-* pattern; one 192 MiB dictionary, so the binaries'
#       common runtime and weights are stored once). Prints its size:
#       with the tracked tree it must stay under the 64 MiB a call
#       carries.
#   tests/gpu/device-run.sh run [ARCHIVE]       on the GPU machine: unpacks
#       the archive into $GPURUN (default /tmp/gpurun), then
#       1. tests/gpu/device-tests.sh run (fp32 against golden and CPU,
#          bf16 against the contract), at most DT_LIMIT seconds (330);
#       2. bench/mpi-scaling.sh --from DIR --gpu (1 then 2 ranks, one
#          H200 each, 64 Mb genome), at most MPI_LIMIT seconds (210);
#       (MPI_ARGS: more options for it, e.g. "--genome-mb 32");
#       each part's log into $OUT (when set: the device tool's folder)
#       and a summary at the end: the GPUs, every bf16 figure, every
#       FAIL line, each part's exit status and the scaling table.
#       Exit 0 when both parts pass.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: device-run.sh prepare|run [ARCHIVE]}
archive=${2:-$here/build-gpurun/gpurun.tar.xz}

stage=""
prepare() {
	set -e
	mkdir -p "$(dirname "$archive")"
	stage=$(mktemp -d "$(dirname "$archive")/stage.XXXXXX")
	trap 'rm -rf "$stage"' EXIT
	"$here/tests/gpu/device-tests.sh" prepare "$stage/dt"
	"$here/bench/mpi-scaling.sh" --prepare "$stage/mpi" --gpu
	rm -f "$archive"
	tar cf - -C "$stage" dt mpi |
		xz -T1 --lzma2=preset=6,dict=192MiB > "$archive.tmp"
	mv "$archive.tmp" "$archive"
	ls -l "$archive"
	echo "carry: ${archive#"$here"/}"
}

run() {
	local dir=${GPURUN:-/tmp/gpurun} log=${OUT:-/tmp/gpurun-logs}
	local dt_rc mpi_rc t0 start
	start=$(date +%s)
	mkdir -p "$log"
	rm -rf "$dir" && mkdir -p "$dir"
	if ! xz -dc "$archive" | tar xf - -C "$dir"; then
		echo "device-run: cannot unpack $archive"
		exit 1
	fi
	if [ -d /usr/local/nvidia/lib64 ]; then
		export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64
	fi
	if [ -d /usr/local/nvidia/bin ]; then
		export PATH=$PATH:/usr/local/nvidia/bin
	fi
	nvidia-smi --query-gpu=index,name,memory.total,driver_version \
		--format=csv,noheader > "$log/gpus.txt" 2>&1 || true
	t0=$(date +%s)
	# shellcheck disable=SC2086
	WORK=$dir/mpi-work timeout -k 10 "${MPI_LIMIT:-200}" \
		"$here/bench/mpi-scaling.sh" --from "$dir/mpi" --gpu ${MPI_ARGS:-} \
		> "$log/mpi-scaling.log" 2>&1
	mpi_rc=$?
	echo "mpi-scaling: exit $mpi_rc after $(( $(date +%s) - t0 )) s" |
		tee -a "$log/mpi-scaling.log"
	# what is left of 560 s (a device call's command has 600)
	local dt_limit=$(( 560 - ($(date +%s) - start) ))
	[ "$dt_limit" -lt 120 ] && dt_limit=120
	t0=$(date +%s)
	timeout -k 10 "${DT_LIMIT:-$dt_limit}" "$here/tests/gpu/device-tests.sh" run \
		"$dir/dt" > "$log/device-tests.log" 2>&1
	dt_rc=$?
	echo "device-tests: exit $dt_rc after $(( $(date +%s) - t0 )) s" |
		tee -a "$log/device-tests.log"
	echo "==== summary"
	cat "$log/gpus.txt"
	grep -E '^(ranks=|warm-up|mpirun scaling|\||mpi-scaling:)|rror' \
		"$log/mpi-scaling.log" | grep -v '^--' | head -40
	grep -E '^(ok  |FAIL) (bf16|s32k)|FAIL|^device-tests:|gpu_tiny_check' \
		"$log/device-tests.log" | awk '!seen[$0]++'
	if [ "$dt_rc" != 0 ]; then
		echo "---- device-tests.log ends:"
		tail -n 4 "$log/device-tests.log"
	fi
	if [ "$mpi_rc" != 0 ]; then
		echo "---- mpi-scaling.log ends:"
		tail -n 6 "$log/mpi-scaling.log"
	fi
	[ "$dt_rc" = 0 ] && [ "$mpi_rc" = 0 ]
}

case $mode in
prepare) prepare ;;
run) run ;;
*) echo "usage: device-run.sh prepare|run [ARCHIVE]" >&2; exit 2 ;;
esac
