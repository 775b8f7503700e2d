#!/bin/bash
# bench/core-probe.sh - what a core keeps of its speed while other cores
# work: the lent machine's ceiling for bench/mpi-scaling.sh (issue 17).
# For each loop of core_probe.c (fma: the core's FMA ports; l2: its own
# L2; mem: the memory every core shares): the loop alone on core 0; then
# beside one copy on core k, for every other k (a core that loses about
# half of its fma rate to one neighbour shares its physical core with
# it); then on every core at once (the mean against alone). A benchmark,
# not a test: nothing here asserts a speed.
#
#   bench/core-probe.sh [--seconds S] [--cores C]
#   bench/core-probe.sh --prepare DIR    (the probe built here, for a
#                                         machine without a compiler)
#   bench/core-probe.sh --from DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=2
cores=$(nproc)
probe=""
build() { gcc -O2 -mavx512f -mfma "$@" "$here/core_probe.c"; }
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) secs=$2; shift 2 ;;
	--cores) cores=$2; shift 2 ;;
	--prepare)
		mkdir -p "$2"
		build -static -o "$2/core_probe"
		exit 0 ;;
	--from) probe=$2/core_probe; shift 2 ;;
	*) echo "core-probe.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
if [ -z "$probe" ]; then
	scratch=$(mktemp -d)
	trap 'rm -rf "$scratch"' EXIT
	probe=$scratch/core_probe
	build -o "$probe"
fi
pin() { taskset -c "$1" "$probe" "$2" "$secs"; }
echo "core probe: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), ${secs} s a loop"
echo "| loop | alone | with one neighbour, core 0 kept (worst, core) | all $cores at once, mean kept (min) |"
echo "| --- | ---: | ---: | ---: |"
for loop in fma l2 mem; do
	alone=$(pin 0 "$loop")
	worst=2 wk=""
	for k in $(seq 1 $((cores - 1))); do
		pin "$k" "$loop" > /dev/null &
		r=$(pin 0 "$loop")
		wait
		f=$(awk -v r="$r" -v a="$alone" 'BEGIN { printf "%.3f", r / a }')
		if awk -v f="$f" -v w="$worst" 'BEGIN { exit !(f < w) }'; then
			worst=$f wk=$k
		fi
	done
	tmp=$(mktemp -d)
	for k in $(seq 0 $((cores - 1))); do
		pin "$k" "$loop" > "$tmp/$k" &
	done
	wait
	all=$(cat "$tmp"/* | awk -v a="$alone" '{ s += $1; if (m == "" || $1 < m) m = $1 }
		END { printf "%.0f%% (%.0f%%)", 100 * s / NR / a, 100 * m / a }')
	rm -rf "$tmp"
	unit=GB/s
	[ "$loop" = fma ] && unit=GFLOP/s
	printf "| %s | %s %s | %.0f%% (core %s) | %s |\n" "$loop" "$alone" "$unit" \
		"$(awk -v w="$worst" 'BEGIN { print 100 * w }')" "$wk" "$all"
done
