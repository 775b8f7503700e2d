#!/bin/sh
# Run one fuzz target for a given time: fuzz/run.sh TARGET [SECONDS] [JOBS]
# TARGET is yaml, hf_config, safetensors, npy, fasta, gzip, ir, argv, vcf
# or bed; SECONDS defaults
# to 600. Build first with `make fuzz`. New inputs go to
# build-fuzz/corpus/TARGET (the committed seeds in fuzz/corpus/TARGET are
# read, never written); crashes to build-fuzz/artifacts/TARGET/; the log,
# ending in libFuzzer's final stats, to build-fuzz/TARGET.log.
set -eu
cd "$(dirname "$0")/.."
t=$1
secs=${2:-600}
B=${BUILD_FUZZ:-build-fuzz}
bin=$B/fuzz_$t
[ -x "$bin" ] || { echo "fuzz/run.sh: no $bin; run 'make fuzz' first" >&2; exit 2; }
mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
dict=""
[ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
# shellcheck disable=SC2086
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 $dict \
	-artifact_prefix="$B/artifacts/$t/" \
	"$B/corpus/$t" "fuzz/corpus/$t" >"$B/$t.log" 2>&1
