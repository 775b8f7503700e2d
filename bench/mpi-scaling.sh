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
#
# --genome-mb   genome size in megabases (default 50), in R records
#               (default 4), seeded random ACGT, so every run reads the
#               same genome
# --ranks       the rank counts, in order (default "1 2 4 8 16"); the
#               first one is the baseline
# --threads     threads per rank; default: cores / ranks (at least 1), so
#               every run uses the whole machine
# --cores       the cores to fill (default: nproc)
# --model       default models/hyenadna-small-32k.yaml (windows of 32768
#               bases + [SEP]); compiled once with --mpi
#
# Efficiency is per core: (t_base x cores_base) / (t_N x cores_N), cores =
# ranks x threads, so with the default threads it is t_base / t_N and with
# --threads 1 it is the classic t_1 / (N t_N).
# Environment: HYENAC (default build/hyenac), WORK (default
# build/mpi-scaling), MPIRUN_FLAGS (added to every mpirun; the default
# "--bind-to none" lets each rank's threads use any core; as root
# OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) must be set by the caller).
# Prints a markdown table and writes it to $WORK/table-MODEL-SIZE.md.
# Runs are kept in $WORK/runs-MODEL-SIZE.tsv: a later call with other
# --ranks adds to the same table (the smallest rank count is the base).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
genome_mb=50
ranks="1 2 4 8 16"
model="$here/models/hyenadna-small-32k.yaml"
threads=""
cores=$(nproc)
records=4
while [ $# -gt 0 ]; do
	case "$1" in
	--genome-mb) genome_mb=$2; shift 2 ;;
	--ranks) ranks=$2; shift 2 ;;
	--model) model=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--cores) cores=$2; shift 2 ;;
	--records) records=$2; shift 2 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "mpi-scaling.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
HYENAC=${HYENAC:-$here/build/hyenac}
WORK=${WORK:-$here/build/mpi-scaling}
MPIRUN_FLAGS=${MPIRUN_FLAGS:---bind-to none}
command -v mpirun >/dev/null || { echo "mpi-scaling.sh: no mpirun (install openmpi-bin)" >&2; exit 1; }
mkdir -p "$WORK"

fa="$WORK/genome-${genome_mb}mb.fa"
if [ ! -s "$fa" ]; then
	echo "writing $fa ($genome_mb Mb, $records records)" >&2
	python3 - "$fa" "$genome_mb" "$records" <<'EOF'
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

exe="$WORK/$(basename "$model" .yaml)-mpi"
if [ ! -x "$exe" ] || [ "$model" -nt "$exe" ] || [ "$HYENAC" -nt "$exe" ]; then
	echo "compiling $model with --mpi" >&2
	"$HYENAC" compile "$model" -o "$exe" --mpi
fi

now() { date +%s.%N; }
# Arithmetic in awk, which every machine has (bc is often missing).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# One line per run (ranks threads seconds windows tokens same), kept
# across invocations, so that the runs can be split over several calls
# (a 10-minute limit per command): the table is rebuilt from all of them,
# the smallest rank count being the base.
tag="$(basename "$model" .yaml)-${genome_mb}mb"
runs="$WORK/runs-$tag.tsv"
touch "$runs"
for n in $ranks; do
	t=${threads:-$(( cores / n > 0 ? cores / n : 1 ))}
	out="$WORK/emb-$tag-$n.npy"
	rm -rf "$out" "${out%.npy}.tsv" "$out.hyenac-journal"
	over=""
	if [ $(( n * t )) -gt "$cores" ] || [ "$n" -gt "$cores" ]; then
		over="--oversubscribe"
	fi
	t0=$(now)
	# shellcheck disable=SC2086
	mpirun -n "$n" $over $MPIRUN_FLAGS "$exe" embed --fasta "$fa" -o "$out" \
		--pool mean --threads "$t" --quiet
	t1=$(now)
	secs=$(calc "$t1 - $t0")
	windows=$(($(wc -l < "${out%.npy}.tsv") - 1))
	tokens=$(awk -F'\t' 'NR > 1 { s += $4 } END { print s }' "${out%.npy}.tsv")
	awk -v n="$n" '$1 != n' "$runs" > "$runs.tmp"
	printf "%d\t%d\t%.3f\t%d\t%d\n" "$n" "$t" "$secs" "$windows" "$tokens" >> "$runs.tmp"
	sort -n "$runs.tmp" > "$runs"
	rm -f "$runs.tmp"
	echo "ranks=$n threads=$t seconds=$secs windows=$windows" >&2
done

table="$WORK/table-$tag.md"
{
	echo "| ranks | threads/rank | seconds | windows | Mtokens/s | speedup | efficiency | same bytes |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"
} > "$table"
base_n="" base_t="" base_c=""
while IFS=$'\t' read -r n t secs windows tokens; do
	out="$WORK/emb-$tag-$n.npy"
	if [ -z "$base_n" ]; then
		base_n=$n base_t=$secs base_c=$(( n * t )) same="(base)"
	elif cmp -s "$WORK/emb-$tag-$base_n.npy" "$out" &&
	     cmp -s "$WORK/emb-$tag-$base_n.tsv" "${out%.npy}.tsv"; then
		same=yes
	else
		same=NO
	fi
	printf "| %d | %d | %.1f | %d | %.3f | %.2f | %.0f%% | %s |\n" "$n" "$t" \
		"$secs" "$windows" "$(calc "$tokens / $secs / 1000000")" \
		"$(calc "$base_t / $secs")" \
		"$(calc "100 * $base_t * $base_c / ($secs * $n * $t)")" \
		"$same" >> "$table"
done < "$runs"
echo
echo "mpirun scaling: $(basename "$model" .yaml), embed --pool mean, ${genome_mb} Mb random genome, $cores cores ($(nproc) online, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(mpirun --version | head -1)"
echo
cat "$table"
