#!/bin/bash
# bench/mpi-scaling.sh - the MPI scaling table of issue 17: one workload,
# `embed --pool mean` over a random genome with a model's default windows,
# run by `mpirun -n N` for each N, every output checked byte for byte
# against the 1-rank run. A benchmark, not a test: nothing here asserts a
# speed.
#
#   bench/mpi-scaling.sh [--genome-mb MB] [--ranks "1 2 4 8 16"]
#                        [--model models/hyenadna-small-32k.yaml]
#                        [--threads T] [--cores C] [--records R]
#                        [--gpu] [--batch B] [--exe BIN] [--from DIR]
#                        [--control] [--trace] [--base-mb MB]
#   bench/mpi-scaling.sh --prepare DIR [--gpu] [--model M]
#                        [--target-cpu CPU]
#
# --genome-mb   genome size in megabases (default 50; 64 with --gpu), in
#               R records (default 4), seeded random ACGT, so every run
#               reads the same genome
# --ranks       the rank counts, in order (default "1 2 4 8 16"; "1 2"
#               with --gpu); the first one is the baseline
# --threads     threads per rank; default: cores / ranks (at least 1), so
#               every run uses the whole machine; 4 with --gpu (host
#               threads feeding the rank's GPU, which runs one forward at
#               a time)
# --cores       the cores to fill (default: nproc)
# --model       default models/hyenadna-small-32k.yaml (windows of 32768
#               bases + [SEP]); compiled once with --mpi
# --gpu         the binary compiled with --target cuda --mpi: each rank
#               takes its node's GPUs in turn (the launcher's local rank),
#               so N ranks use N GPUs; windows run one at a time (--batch 1
#               unless --batch says otherwise, which keeps every window's
#               forward the same whatever the split); one untimed warm-up
#               run first (the driver's PTX compilation, cached after);
#               nvidia-smi, where there is one, samples each GPU's load
#               and memory during the runs
# --batch       embed's --batch (default: the binary's own; 1 with --gpu)
# --control     after the runs, the machine's own ceiling, with no MPI: the
#               genome cut into C equal parts (C = --cores), one part
#               alone on core 0, then all C parts at once, part i on core
#               i (taskset), one thread each; prints what a perfect fixed
#               split (alone / slowest) and a perfect queue (alone / mean)
#               could reach on this machine (CPU binaries)
# --trace       each run's ranks write HYENAC_SHARD_LOG files into
#               WORK/trace-MODEL-SIZE-N/, and a line after the run says
#               where the time went: each rank's start-up (launch to the
#               plan), its shards and its busy seconds (min / mean /
#               max over ranks), when the ranks ran out of work, and what
#               came after the last shard (the gather, the exit)
# --base-mb MB  the base of the efficiency column: the smallest rank count
#               of the MB genome's runs (kept in WORK) instead of this
#               genome's, compared by tokens a second a core; for a big
#               genome that one rank would take an hour on (the issue's
#               50 Mb), with the base run on a small one in the same call.
#               Bytes are then compared with this genome's smallest rank
#               count, when it has two
# --target-cpu  the CPU to compile for (--prepare, or when compiling
#               here): the lent machine's, e.g. x86-64-v4, as this
#               machine's own (the default) may use what it lacks
# --exe         the --mpi binary to run, instead of compiling one
# --from DIR    what --prepare left in DIR (brought to a machine without
#               LLVM 19 or Open MPI): its binary, its shared libraries
#               (DIR/lib) and Debian 12's Open MPI runtime (DIR/openmpi:
#               OPAL_PREFIX, PATH and the library path set to it, the
#               plugin paths of PMIx and hwloc kept inside it, shared
#               memory between ranks only, and as root the two
#               OMPI_ALLOW_RUN_AS_ROOT variables)
# --prepare DIR where hyenac is built: the model compiled with --mpi
#               (and --target cuda with --gpu) into DIR, the shared
#               libraries it needs beyond the C library's into DIR/lib,
#               Debian 12's Open MPI runtime packages (apt-get download)
#               unpacked into DIR/openmpi, less the plugins that need
#               libraries it does not carry (InfiniBand, UCX, libfabric,
#               PSM), then a check that it runs: a CPU --mpi binary of
#               tiny-1k on 1 then 2 ranks under `env -i` (nothing of
#               this machine's Open MPI on the paths), outputs compared
#
# Efficiency is per core: (t_base x cores_base) / (t_N x cores_N), cores =
# ranks x threads, so with the default threads it is t_base / t_N and with
# --threads 1 it is the classic t_1 / (N t_N); with --gpu (a fixed thread
# count a rank) it is t_1 / (N t_N) per GPU.
# Environment: HYENAC (default build/hyenac), WORK (default
# build/mpi-scaling, or /tmp/hyenac-mpi-scaling with --from), MPIRUN_FLAGS
# (given to every mpirun in place of the binding: by default
# "--bind-to core" for one thread a rank, each rank kept on its core,
# else "--bind-to none", each rank's threads free to use any core; as root OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) must be
# set by the caller unless --from sets them), PYTHON (the genome's
# writer, default python3).
# Prints a markdown table and writes it to $WORK/table-MODEL-SIZE.md.
# Runs are kept in $WORK/runs-MODEL-SIZE.tsv: a later call with other
# --ranks adds to the same table (the smallest rank count is the base).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
genome_mb=""
ranks=""
model="$here/models/hyenadna-small-32k.yaml"
threads=""
cores=$(nproc)
records=4
gpu=""
batch=""
exe=""
from=""
prep=""
control=""
trace=""
base_mb=""
target_cpu=()
while [ $# -gt 0 ]; do
	case "$1" in
	--genome-mb) genome_mb=$2; shift 2 ;;
	--ranks) ranks=$2; shift 2 ;;
	--model) model=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--cores) cores=$2; shift 2 ;;
	--records) records=$2; shift 2 ;;
	--gpu) gpu=1; shift ;;
	--batch) batch=$2; shift 2 ;;
	--control) control=1; shift ;;
	--trace) trace=1; shift ;;
	--base-mb) base_mb=$2; shift 2 ;;
	--target-cpu) target_cpu=(--target-cpu "$2"); shift 2 ;;
	--exe) exe=$2; shift 2 ;;
	--from) from=$2; shift 2 ;;
	--prepare) prep=$2; shift 2 ;;
	-h|--help) sed -n '2,65p' "$0"; exit 0 ;;
	*) echo "mpi-scaling.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
HYENAC=${HYENAC:-$here/build/hyenac}
PYTHON=${PYTHON:-python3}
name=$(basename "$model" .yaml)
# the binary's name in WORK and in a --prepare folder
binname="$name-mpi${gpu:+-gpu}"

# ---- --prepare: the binary and Open MPI's runtime, to carry -------------

# Debian 12's Open MPI 4.1.4 runtime, what libmpi.so.40 and mpirun load
# (the libraries this machine's --mpi binaries were linked against)
ompi_debs="openmpi-bin openmpi-common libopenmpi3 libpmix2 libhwloc15
	libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1 libmunge2 libnuma1"
# what any glibc system has; every other library a binary or plugin
# needs must be carried
base_libs=" libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 "
base_libs+="libutil.so.1 ld-linux-x86-64.so.2 libgcc_s.so.1 libstdc++.so.6 "
base_libs+="libz.so.1 "
is_base() { case $base_libs in *" $1 "*) return 0 ;; esac; return 1; }

prep_tmp=""
prepare() {
	local dir=$1 tmp
	mkdir -p "$dir/lib"
	dir=$(cd "$dir" && pwd)
	tmp=$(mktemp -d)
	prep_tmp=$tmp
	trap 'rm -rf "$prep_tmp"' EXIT
	echo "compiling $model with --mpi${gpu:+ --target cuda}" >&2
	"$HYENAC" compile "$model" -o "$dir/$binname" --mpi \
		${gpu:+--target cuda} "${target_cpu[@]}"
	# Open MPI: Debian 12's packages, unpacked
	rm -rf "$dir/openmpi"
	mkdir -p "$tmp/debs" "$dir/openmpi"
	# shellcheck disable=SC2086
	(cd "$tmp/debs" && apt-get download $ompi_debs 2>&1 | grep -v '^W:' >&2)
	for f in "$tmp"/debs/*.deb; do dpkg-deb -x "$f" "$dir/openmpi"; done
	local usr=$dir/openmpi/usr lib=$dir/openmpi/usr/lib/x86_64-linux-gnu
	ln -sf orterun "$usr/bin/mpirun"
	rm -rf "$usr/share/doc" "$usr/share/man" "$usr/share/lintian" \
		"$lib/hwloc" "$lib"/libmpi_java* "$lib"/libmpi_mpifh* \
		"$lib"/libmpi_usempi* "$lib"/liboshmem* "$lib/openmpi/lib/openmpi3"/*oshmem* \
		"$lib/openmpi/lib/openmpi3"/mca_*_java*
	mkdir -p "$dir/openmpi/hwloc-plugins" # empty: no system plugins
	# plugins that need what is not carried go: Open MPI would print an
	# error for each one it cannot open
	local so need gone=""
	for so in "$lib"/libmca_common_*.so.* "$lib"/openmpi/lib/openmpi3/*.so \
		"$lib"/pmix2/lib/pmix/*.so; do
		if [ ! -f "$so" ] || [ -L "$so" ]; then continue; fi
		for need in $(objdump -p "$so" | awk '$1 == "NEEDED" { print $2 }'); do
			is_base "$need" && continue
			[ -e "$lib/$need" ] || [ -e "$lib/openmpi/lib/$need" ] && continue
			gone="$gone ${so##*/}"
			rm -f "$so"
			break
		done
	done
	echo "left out (need libraries not carried):$gone" >&2
	rm -f "$dir/lib"/*
	"$here/scripts/copy-libs.sh" "$dir/$binname" "$dir/lib" "$lib"
	# the check, here, under a clean environment
	echo "checking the carried Open MPI under env -i" >&2
	mkdir -p "$tmp/check"
	"$HYENAC" compile "$here/models/hyenadna-tiny-1k.yaml" \
		-o "$tmp/check/hyenadna-tiny-1k-mpi" --mpi
	"$here/scripts/copy-libs.sh" "$tmp/check/hyenadna-tiny-1k-mpi" "$dir/lib" "$lib"
	env -i PATH=/usr/bin:/bin HOME="$tmp" PYTHON="$(command -v "$PYTHON")" \
		WORK="$tmp/work" "$0" --from "$dir" \
		--exe "$tmp/check/hyenadna-tiny-1k-mpi" \
		--model "$here/models/hyenadna-tiny-1k.yaml" --genome-mb 0.05 \
		--ranks "1 2" --threads 1 > "$tmp/check.out" 2>&1 ||
		{ cat "$tmp/check.out" >&2; echo "mpi-scaling.sh: the carried Open MPI failed its check" >&2; exit 1; }
	if ! grep -q '^| 2 | 1 | .* | yes |$' "$tmp/check.out"; then
		cat "$tmp/check.out" >&2
		echo "mpi-scaling.sh: the 2-rank check's output differs" >&2
		exit 1
	fi
	grep '^| 2 ' "$tmp/check.out" >&2
	echo "check passed: mpirun from $dir/openmpi, 2 ranks, same bytes" >&2
	du -sh "$dir"
}

if [ -n "$prep" ]; then
	prepare "$prep"
	exit 0
fi

# ---- the run ------------------------------------------------------------

if [ -n "$from" ]; then
	from=$(cd "$from" && pwd)
	exe=${exe:-$from/$binname}
	WORK=${WORK:-/tmp/hyenac-mpi-scaling}
	if [ -d "$from/openmpi" ]; then
		export OPAL_PREFIX=$from/openmpi/usr
		export PATH=$OPAL_PREFIX/bin:$PATH
		libs=$OPAL_PREFIX/lib/x86_64-linux-gnu
		export LD_LIBRARY_PATH=$libs:$libs/openmpi/lib:$from/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		export PMIX_PREFIX=$libs/pmix2 PMIX_PKGLIBDIR=$libs/pmix2/lib/pmix
		export PMIX_MCA_pcompress_base_silence_warning=1
		export HWLOC_PLUGINS_PATH=$from/openmpi/hwloc-plugins
		# one node: shared memory between ranks, no network components
		export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
		export OMPI_MCA_btl_vader_single_copy_mechanism=none
		export OMPI_MCA_osc=sm,pt2pt
		if [ "$(id -u)" = 0 ]; then
			export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
		fi
	else
		export LD_LIBRARY_PATH=$from/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	fi
fi
if [ -n "$gpu" ]; then
	genome_mb=${genome_mb:-64}
	ranks=${ranks:-1 2}
	threads=${threads:-4}
	batch=${batch:-1}
	# where the lent GPU machines keep the driver and nvidia-smi
	if [ -d /usr/local/nvidia/lib64 ]; then
		export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64
	fi
	if [ -d /usr/local/nvidia/bin ]; then
		export PATH=$PATH:/usr/local/nvidia/bin
	fi
fi
genome_mb=${genome_mb:-50}
ranks=${ranks:-1 2 4 8 16}
WORK=${WORK:-$here/build/mpi-scaling}
mpirun=${OPAL_PREFIX:+$OPAL_PREFIX/bin/}mpirun
[ -x "$mpirun" ] || command -v "$mpirun" >/dev/null ||
	{ echo "mpi-scaling.sh: no mpirun (install openmpi-bin)" >&2; exit 1; }
mkdir -p "$WORK"

fa="$WORK/genome-${genome_mb}mb.fa"
if [ ! -s "$fa" ]; then
	echo "writing $fa ($genome_mb Mb, $records records)" >&2
	"$PYTHON" - "$fa" "$genome_mb" "$records" <<'EOF'
import random, sys
path, mb, nrec = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
total = int(mb * 1e6)
rng = random.Random(17)
with open(path + ".tmp", "w") as f:
    for r in range(nrec):
        n = total // nrec + (1 if r < total % nrec else 0)
        f.write(">chr%d\n" % (r + 1))
        while n > 0:
            k = min(n, 60 * 16384)
            s = "".join(rng.choices("ACGT", k=k))
            f.write("\n".join(s[i:i + 60] for i in range(0, k, 60)) + "\n")
            n -= k
import os
os.rename(path + ".tmp", path)
EOF
fi

if [ -z "$exe" ]; then
	exe="$WORK/$binname"
	if [ ! -x "$exe" ] || [ "$model" -nt "$exe" ] || [ "$HYENAC" -nt "$exe" ]; then
		echo "compiling $model with --mpi${gpu:+ --target cuda}" >&2
		"$HYENAC" compile "$model" -o "$exe" --mpi ${gpu:+--target cuda} \
			"${target_cpu[@]}"
	fi
fi
[ -x "$exe" ] || { echo "mpi-scaling.sh: no binary $exe" >&2; exit 1; }

now() { date +%s.%N; }
# Arithmetic in awk, which every machine has (bc is often missing).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# The GPUs' load while a run lasts: nvidia-smi every second into LOG, in
# the background (watch_start LOG; watch_stop prints a summary).
watch_pid=""
watch_start() {
	command -v nvidia-smi >/dev/null || return 0
	: > "$1"
	while sleep 1; do
		nvidia-smi --query-gpu=index,utilization.gpu,memory.used \
			--format=csv,noheader,nounits >> "$1" 2>/dev/null || break
	done &
	watch_pid=$!
}
watch_stop() {
	[ -n "$watch_pid" ] || return 0
	kill "$watch_pid" 2>/dev/null || true
	wait "$watch_pid" 2>/dev/null || true
	watch_pid=""
	awk -F', *' '{ if ($2 > u[$1]) u[$1] = $2; if ($3 > m[$1]) m[$1] = $3 }
		END { for (g in u) printf " GPU %s: max %d%% busy, %d MiB;", g, u[g], m[g] }' "$1"
}
# trace_summary DIR T0 T1: where a run's time went, from its ranks'
# HYENAC_SHARD_LOG files (times in seconds since the launch, T0)
trace_summary() {
	if ! compgen -G "$1/rank-*.tsv" > /dev/null; then
		echo "  trace: no shard log (one process runs the job unsharded)"
		return 0
	fi
	cat "$1"/rank-*.tsv | awk -v t0="$2" -v t1="$3" -F'\t' '
	{ t = $3 - t0 }
	$1 == "plan" { k++; up[k] = t }
	$1 == "start" { s = t }
	$1 == "end" { b[k] += t - s; sh[k]++; if (t > last) last = t }
	$1 == "idle" { idle[k] = t }
	function st(a, n,   i, lo, hi, sum) {
		lo = 1e30; hi = -1e30
		for (i = 1; i <= n; i++) { sum += a[i]; if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		return sprintf("%.2f / %.2f / %.2f", lo, sum / n, hi)
	}
	END {
		printf "  trace (s from launch, min / mean / max over %d ranks): start-up %s; shards %s; busy %s; out of work at %s; last shard ended %.2f, job ended %.2f\n",
			k, st(up, k), st(sh, k), st(b, k), st(idle, k), last, t1 - t0
	}'
}
batch_flag=()
[ -n "$batch" ] && batch_flag=(--batch "$batch")
# One line per run (ranks threads seconds windows tokens same), kept
# across invocations, so that the runs can be split over several calls
# (a 10-minute limit per command): the table is rebuilt from all of them,
# the smallest rank count being the base.
tag="$name${gpu:+-gpu}-${genome_mb}mb"
runs="$WORK/runs-$tag.tsv"
touch "$runs"
base_runs=""
if [ -n "$base_mb" ]; then
	base_runs="$WORK/runs-$name${gpu:+-gpu}-${base_mb}mb.tsv"
	[ -s "$base_runs" ] ||
		{ echo "mpi-scaling.sh: --base-mb $base_mb: no runs in $base_runs (run that genome first)" >&2; exit 1; }
fi
if [ -n "$gpu" ]; then
	# untimed: the driver compiles the PTX once and caches it
	printf ">warm\n%s\n" "$(head -c 2000 /dev/zero | tr '\0' 'A')" > "$WORK/warm.fa"
	rm -rf "$WORK/warm.npy" "$WORK/warm.tsv"
	w0=$(now)
	"$exe" embed --fasta "$WORK/warm.fa" -o "$WORK/warm.npy" --pool mean --quiet
	echo "warm-up run: $(calc "$(now) - $w0") s" >&2
fi
for n in $ranks; do
	t=${threads:-$(( cores / n > 0 ? cores / n : 1 ))}
	out="$WORK/emb-$tag-$n.npy"
	rm -rf "$out" "${out%.npy}.tsv" "$out.hyenac-journal"
	over=""
	if [ $(( n * t )) -gt "$cores" ] || [ "$n" -gt "$cores" ]; then
		over="--oversubscribe"
	fi
	[ -n "$gpu" ] && watch_start "$WORK/gpus-$tag-$n.csv"
	logdir=""
	if [ -n "$trace" ]; then
		logdir="$WORK/trace-$tag-$n"
		rm -rf "$logdir"
		mkdir -p "$logdir"
	fi
	t0=$(now)
	# shellcheck disable=SC2086
	# one thread a rank: each rank on its own core (its L2 kept; on the
	# lent 16-core machine 6.9 s against 8.5 s unbound, tiny-1k 8 Mb);
	# several: free to use any core
	bind="--bind-to none"
	[ "$t" = 1 ] && [ -z "$over" ] && bind="--bind-to core"
	HYENAC_SHARD_LOG=$logdir "$mpirun" -n "$n" $over ${MPIRUN_FLAGS:-$bind} \
		${logdir:+-x HYENAC_SHARD_LOG} "$exe" embed --fasta "$fa" -o "$out" \
		--pool mean --threads "$t" --quiet "${batch_flag[@]}"
	t1=$(now)
	[ -n "$logdir" ] && trace_summary "$logdir" "$t0" "$t1" >&2
	load=""
	[ -n "$gpu" ] && load=$(watch_stop "$WORK/gpus-$tag-$n.csv")
	secs=$(calc "$t1 - $t0")
	windows=$(($(wc -l < "${out%.npy}.tsv") - 1))
	tokens=$(awk -F'\t' 'NR > 1 { s += $4 } END { print s }' "${out%.npy}.tsv")
	awk -v n="$n" '$1 != n' "$runs" > "$runs.tmp"
	printf "%d\t%d\t%.3f\t%d\t%d\n" "$n" "$t" "$secs" "$windows" "$tokens" >> "$runs.tmp"
	sort -n "$runs.tmp" > "$runs"
	rm -f "$runs.tmp"
	echo "ranks=$n threads=$t seconds=$secs windows=$windows${load:+ ;$load}" >&2
done

table="$WORK/table-$tag.md"
{
	echo "| ranks | threads/rank | seconds | windows | Mtokens/s | speedup | efficiency | same bytes |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"
} > "$table"
# speedup by throughput (tokens / s) against the base's; efficiency per
# core, (tokens / s / cores) against the base's: on one genome these are
# t_base / t_N and t_base c_base / (t_N c_N)
# row N T SECS WINDOWS TOKENS SAME [LABEL]: one line of the table
row() {
	printf "| %s | %d | %.1f | %d | %.3f | %.2f | %.0f%% | %s |\n" "${7:-$1}" \
		"$2" "$3" "$4" "$(calc "$5 / $3 / 1000000")" \
		"$(calc "$5 / $3 / $base_tput")" \
		"$(calc "100 * $5 / $3 / ($1 * $2) / $base_rate")" "$6" >> "$table"
}
base_n="" base_tput="" base_rate=""
if [ -n "$base_runs" ]; then
	read -r bn bt bsecs bwindows btokens < "$base_runs"
	base_tput=$(calc "$btokens / $bsecs")
	base_rate=$(calc "$base_tput / ($bn * $bt)")
	row "$bn" "$bt" "$bsecs" "$bwindows" "$btokens" "(base)" "$bn ($base_mb Mb)"
fi
while IFS=$'\t' read -r n t secs windows tokens; do
	out="$WORK/emb-$tag-$n.npy"
	if [ -z "$base_n" ]; then
		base_n=$n same="(base)"
		[ -n "$base_mb" ] && same="(first)"
		if [ -z "$base_tput" ]; then
			base_tput=$(calc "$tokens / $secs")
			base_rate=$(calc "$base_tput / ($n * $t)")
		fi
	elif cmp -s "$WORK/emb-$tag-$base_n.npy" "$out" &&
	     cmp -s "$WORK/emb-$tag-$base_n.tsv" "${out%.npy}.tsv"; then
		same=yes
	else
		same=NO
	fi
	row "$n" "$t" "$secs" "$windows" "$tokens" "$same"
done < "$runs"
where="$cores cores ($(nproc) online, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
if [ -n "$gpu" ]; then
	gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null |
		sort | uniq -c | awk '{ $1 = $1 " x"; print }' | paste -sd, - || true)
	where="one GPU a rank (${gpus:-no nvidia-smi}), --batch $batch, $where"
fi
echo
echo "mpirun scaling: $name${gpu:+ (--target cuda)}, embed --pool mean, ${genome_mb} Mb random genome, $where, $("$mpirun" --version | head -1)"
echo
cat "$table"

# ---- --control: the same work with no MPI, C processes at once ----------

[ -n "$control" ] || exit 0
parts="$WORK/parts-${genome_mb}mb-$cores"
mkdir -p "$parts"
"$PYTHON" - "$fa" "$parts" "$cores" <<'EOF'
import sys
fa, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
seq = "".join(l.strip() for l in open(fa) if not l.startswith(">"))
k = len(seq) // n
for i in range(n):
    s = seq[i * k:(i + 1) * k if i + 1 < n else len(seq)]
    with open("%s/p%d.fa" % (out, i), "w") as f:
        f.write(">part%d\n" % i)
        f.write("\n".join(s[j:j + 60] for j in range(0, len(s), 60)) + "\n")
EOF
pin() { if command -v taskset >/dev/null; then taskset -c "$@"; else shift; "$@"; fi; }
part() { # part I: part I's embedding on core I; prints its seconds
	local t0
	rm -f "$parts/o$1.npy" "$parts/o$1.tsv"
	t0=$(now)
	pin "$1" "$exe" embed --fasta "$parts/p$1.fa" -o "$parts/o$1.npy" \
		--pool mean --threads 1 --quiet "${batch_flag[@]}"
	echo "$(calc "$(now) - $t0")"
}
alone=$(part 0)
for i in $(seq 0 $((cores - 1))); do
	part "$i" > "$parts/t$i" &
done
wait
cat "$parts"/t* | sort -n | awk -v a="$alone" -v c="$cores" '
	{ t[NR] = $1; s += $1 }
	END { printf "\ncontrol, no MPI: one part of %d alone on core 0 %.1f s; all %d at once %.1f / %.1f / %.1f s (min / mean / max)\n", c, a, c, t[1], s / NR, t[NR]
	      printf "ceiling on this machine: a fixed split %.0f%% (alone / slowest), a queue %.0f%% (alone / mean)\n", 100 * a / t[NR], 100 * a * NR / s }'
