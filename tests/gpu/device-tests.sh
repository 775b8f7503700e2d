#!/bin/bash
# tests/gpu/device-tests.sh - the GPU target held to the golden outputs
# and to the CPU binary, in two halves, since the machine with the GPU
# has no LLVM (it cannot run hyenac) and this one has no GPU:
#
#   tests/gpu/device-tests.sh prepare DIR   where hyenac is built: compiles
#       ../shared/golden/* and random models with --target cuda into
#       DIR/bin, the random ones for the CPU too, runs the CPU binaries on
#       random tokens (lengths 1, 2, 7, 100, 333, 1000 and the longest; batches
#       of 2 and 1) into DIR/data, and copies gpu_tiny_check and the
#       shared libraries the binaries need that a GPU machine may lack
#       (htslib's) into DIR/bin and DIR/lib. The same models again with
#       --precision bf16 (DIR/bin/bf16-golden-CASE, DIR/bin/NAME-bf16),
#       the fp32 CPU binary's `score` table of each language model over a
#       small FASTA (3 records of about 2000 bases, N and lower case
#       among them; windows of min(500, max_len / 2 - 1) bases), and,
#       unless LARGE=0, a 32k case: models/hyenadna-small-32k.yaml for
#       cuda in fp32 and bf16 (DIR/bin/s32k, s32k-bf16) with the CPU
#       binary's fp32 outputs on one 32768-token window (hidden states at
#       every 8th position and the last, to keep DIR small; all the
#       logits) and its score table over 2 windows of 32768 bases.
#   tests/gpu/device-tests.sh run DIR       on the GPU machine (bash,
#       python3 with NumPy): gpu_tiny_check, then each GPU binary on the
#       same tokens (embed, logits, classify, --pool mean and last,
#       --layer all, score), compared with the golden outputs (max abs
#       2e-4) and the CPU binary's (max abs 2e-4 times the largest
#       |value|, at least 1; score's sum_logp within 1e-4 relative); then
#       the bf16 binaries held to the bf16 contract of issue 15
#       (tests/test_bf16.c) against the fp32 golden or CPU outputs:
#       hidden states within 1e-2 relative (Frobenius) with a cosine of
#       at least 0.999 at every position, the top-1 next token the same at
#       99% of positions or more, each window's score sum_logp within
#       0.5% (tests/gpu/contract.py prints the measured figures). One
#       line per comparison; exit 0 when all pass, 1 when one fails, 77
#       ("skipped: no CUDA device") without a device.
#
# Environment: HYENAC (prepare: the compiler, default build/hyenac; BUILD,
# where gpu_tiny_check is, defaults to its folder),
# GOLDEN (default ../shared/golden), PYTHON (python3 with NumPy; prepare
# defaults to /usr/bin/python3), TARGET (default cuda; cpu makes every
# "GPU" binary a CPU one, a dry run of both halves on a machine without
# a GPU, with TINY_ARGS="--driver libfake_cuda.so --cufft
# libfake_cufft.so" for gpu_tiny_check's stand-in driver), LARGE (prepare:
# 0 leaves the 32k case out).
set -euo pipefail
mode=${1:?usage: device-tests.sh prepare|run DIR}
dir=${2:?usage: device-tests.sh prepare|run DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)

# name:d_model:n_layer:order:d_inner:emb_dim:filter_order:max_seq_len:seed
randoms="r64x2:64:2:2:256:5:32:1026:7 r96x3:96:3:3:200:7:32:702:11"

# window: bases per score window for a binary of max_len tokens
score_window() {
	local ml
	ml=$("$1" info | sed -n 's/^max_len=//p')
	local w=$((ml / 2 - 1))
	[ "$w" -gt 500 ] && w=500
	echo "$w"
}

prepare() {
	local hy=${HYENAC:-$here/build/hyenac} golden=${GOLDEN:-$here/../shared/golden}
	local py=${PYTHON:-/usr/bin/python3} target=${TARGET:-cuda}
	local build
	build=${BUILD:-$(dirname "$hy")}
	mkdir -p "$dir/bin" "$dir/data" "$dir/lib"
	# score's FASTA: 3 records of pseudo-random bases, some N, some lower
	# case (tests/test_bf16.c's generator)
	local fa=$dir/data/score.fa
	"$py" - "$fa" <<'PY'
import sys
s, out = 0x2545F4914F6CDD1D, []
for rec in range(3):
    out.append(">r%d" % rec)
    line = []
    for i in range(1900 + 50 * rec):
        s = (s * 6364136223846793005 + 1442695040888963407) % 2**64
        b = s >> 60
        line.append("N" if b == 0 else "ACGTacgt"[b % 8])
    out.append("".join(line))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
	for g in "$golden"/*/; do
		local c
		c=$(basename "$g")
		"$hy" compile "$g" -o "$dir/bin/golden-$c" --target "$target"
		"$hy" compile "$g" -o "$dir/bin/bf16-golden-$c" --target "$target" \
			--precision bf16
		for f in tokens hidden logits cls_logits; do
			[ -f "$g/$f.npy" ] && cp "$g/$f.npy" "$dir/data/golden-$c.$f.npy"
		done
		if [ -f "$g/logits.npy" ]; then
			local cpu=$dir/data/golden-$c-cpu
			"$hy" compile "$g" -o "$cpu"
			"$cpu" score --fasta "$fa" -o "$dir/data/golden-$c.score.tsv" \
				--window "$(score_window "$cpu")" --quiet
			rm "$cpu"
		fi
	done
	for spec in $randoms; do
		IFS=: read -r name d nl ord di emb fo ml seed <<<"$spec"
		cat >"$dir/data/$name.yaml" <<EOF
name: $name
d_model: $d
n_layer: $nl
max_seq_len: $ml
vocab: {size: 12, pad_multiple: 8}
mlp: {d_inner: $di, activation: gelu_tanh}
hyena:
  order: $ord
  short_filter: 3
  filter: {emb_dim: $emb, order: $fo, inner_mlps: 2, sin_freq: 10}
norm_eps: 1.0e-5
head: lm
weights: {seed: $seed}
EOF
		"$hy" compile "$dir/data/$name.yaml" -o "$dir/data/$name-cpu"
		"$hy" compile "$dir/data/$name.yaml" -o "$dir/bin/$name" \
			--target "$target"
		"$hy" compile "$dir/data/$name.yaml" -o "$dir/bin/$name-bf16" \
			--target "$target" --precision bf16
		local cpu=$dir/data/$name-cpu
		"$cpu" score --fasta "$fa" -o "$dir/data/$name.score.tsv" \
			--window "$(score_window "$cpu")" --quiet
		# 1000 where the model allows it: its FFT length is 2048, a
		# power of two past the least 7-smooth one (2000)
		for L in 1 2 7 100 333 1000 $((ml - 2)); do
			local B=2 t=$dir/data/$name-$L
			[ "$L" -gt $((ml - 2)) ] && continue
			[ "$L" -gt 333 ] && B=1
			"$py" - "$t.tokens.npy" "$B" "$L" <<'PY'
import sys, numpy as np
B, L = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(B * 100003 + L)
np.save(sys.argv[1], rng.integers(0, 12, size=(B, L)).astype(np.int32))
PY
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.hidden.npy"
			"$cpu" logits --tokens "$t.tokens.npy" -o "$t.logits.npy"
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.mean.npy" --pool mean
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.last.npy" --pool last
			if [ "$L" = 100 ]; then
				"$cpu" embed --tokens "$t.tokens.npy" -o "$t.layers.npy" \
					--layer all
			fi
		done
		rm "$cpu"
	done
	if [ "${LARGE:-1}" != 0 ]; then
		prepare_large
	fi
	cp "$build/gpu_tiny_check" "$dir/bin/"
	# the shared libraries of a GPU binary beyond the C library's
	"$here/scripts/copy-libs.sh" "$dir/bin/$name" "$dir/lib"
	du -sh "$dir"
}

# The 32k case: small-32k (seeded weights) on one window of 32768 random
# bases, the CPU binary's fp32 outputs kept in part (hidden states at
# every 8th position and the last: 4 MB instead of 32).
prepare_large() {
	local model=$here/models/hyenadna-small-32k.yaml t=$dir/data/s32k
	local cpu=$dir/data/s32k-cpu
	"$hy" compile "$model" -o "$dir/bin/s32k" --target "$target"
	"$hy" compile "$model" -o "$dir/bin/s32k-bf16" --target "$target" \
		--precision bf16
	"$hy" compile "$model" -o "$cpu"
	"$py" - "$t" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(32768)
np.save(sys.argv[1] + ".tokens.npy",
        rng.integers(7, 11, size=(1, 32768)).astype(np.int32))
np.save(sys.argv[1] + ".rows.npy",
        np.append(np.arange(0, 32768, 8), 32767).astype(np.int64))
with open(sys.argv[1] + ".fa", "w") as f:
    for r in range(2):
        s = "".join("ACGT"[i] for i in rng.integers(0, 4, size=32768))
        f.write(">w%d\n%s\n" % (r, s))
PY
	"$cpu" embed --tokens "$t.tokens.npy" -o "$t.full.npy"
	"$py" - "$t" <<'PY'
import sys, numpy as np
p = sys.argv[1]
np.save(p + ".hidden.npy", np.load(p + ".full.npy")[:, np.load(p + ".rows.npy"), :])
PY
	rm "$t.full.npy"
	"$cpu" logits --tokens "$t.tokens.npy" -o "$t.logits.npy"
	"$cpu" score --fasta "$t.fa" -o "$t.score.tsv" --window 32768 --quiet
	rm "$cpu"
}

run() {
	local py=${PYTHON:-python3} fails=0 rc=0
	set +e
	export LD_LIBRARY_PATH=$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	# shellcheck disable=SC2086
	"$dir/bin/gpu_tiny_check" ${TINY_ARGS:-} || rc=$?
	if [ "$rc" = 77 ]; then
		echo "skipped: no CUDA device"
		exit 77
	fi
	[ "$rc" = 0 ] || fails=$((fails + 1))
	local out=$dir/out
	rm -rf "$out"
	mkdir -p "$out"
	# g ARGS...: a GPU binary's run; a failure counts and says so
	g() {
		"$@" && return 0
		echo "FAIL: $*"
		fails=$((fails + 1))
		return 1
	}
	# contract hidden|top1|score|close|abs NAME ...: tests/gpu/contract.py
	contract() {
		"$py" "$here/tests/gpu/contract.py" "$@" || fails=$((fails + 1))
	}
	for exe in "$dir"/bin/golden-*; do
		local c=${exe##*/golden-} d=$dir/data/golden-${exe##*/golden-}
		if [ -f "$d.cls_logits.npy" ]; then
			g "$exe" classify --tokens "$d.tokens.npy" -o "$out/$c.cls.npy" &&
			contract abs "golden $c classify" "$out/$c.cls.npy" "$d.cls_logits.npy"
		fi
		g "$exe" embed --tokens "$d.tokens.npy" -o "$out/$c.hidden.npy" &&
		contract abs "golden $c hidden" "$out/$c.hidden.npy" "$d.hidden.npy"
		if [ -f "$d.logits.npy" ]; then
			g "$exe" logits --tokens "$d.tokens.npy" -o "$out/$c.logits.npy" &&
			contract abs "golden $c logits" "$out/$c.logits.npy" "$d.logits.npy"
		fi
	done
	# --precision bf16 against the fp32 golden or CPU outputs (issue 15's
	# contract), and the 32k case, before the many runs of the random
	# models: what this script checks that no earlier device run has
	for exe in "$dir"/bin/bf16-golden-*; do
		local c=${exe##*/bf16-golden-} d=$dir/data/golden-${exe##*/bf16-golden-}
		local o=$out/bf16-$c
		g "$exe" embed --tokens "$d.tokens.npy" -o "$o.hidden.npy" &&
		contract hidden "bf16 golden $c" "$o.hidden.npy" "$d.hidden.npy"
		bf16_lm "golden $c" "$exe" "$d.tokens.npy" "$d.logits.npy" \
			"$d.score.tsv" "$dir/data/score.fa" "$(score_window "$exe")"
	done
	for spec in $randoms; do
		local name=${spec%%:*} ml
		ml=$(echo "$spec" | cut -d: -f8)
		for L in 333 $((ml - 2)); do
			local base=$dir/data/$name-$L o=$out/bf16-$name-$L
			g "$dir/bin/$name-bf16" embed --tokens "$base.tokens.npy" \
				-o "$o.hidden.npy" &&
			contract hidden "bf16 $name-$L" "$o.hidden.npy" "$base.hidden.npy"
			bf16_lm "$name-$L" "$dir/bin/$name-bf16" "$base.tokens.npy" \
				"$base.logits.npy" "" "" ""
		done
		bf16_lm "$name" "$dir/bin/$name-bf16" "" "" \
			"$dir/data/$name.score.tsv" "$dir/data/score.fa" \
			"$(score_window "$dir/bin/$name-bf16")"
	done
	if [ -x "$dir/bin/s32k" ]; then
		run_large
	fi
	for spec in $randoms; do
		local name=${spec%%:*}
		for t in "$dir/data/$name"-*.tokens.npy; do
			local base=${t%.tokens.npy} o
			o=$out/$(basename "$base")
			g "$dir/bin/$name" embed --tokens "$t" -o "$o.hidden.npy" &&
			contract close "${base##*/} hidden" "$o.hidden.npy" "$base.hidden.npy"
			g "$dir/bin/$name" logits --tokens "$t" -o "$o.logits.npy" &&
			contract close "${base##*/} logits" "$o.logits.npy" "$base.logits.npy"
			for p in mean last; do
				g "$dir/bin/$name" embed --tokens "$t" -o "$o.$p.npy" --pool $p &&
				contract close "${base##*/} pool $p" "$o.$p.npy" "$base.$p.npy"
			done
			if [ -f "$base.layers.npy" ]; then
				g "$dir/bin/$name" embed --tokens "$t" -o "$o.layers.npy" \
					--layer all &&
				contract close "${base##*/} layers" "$o.layers.npy" "$base.layers.npy"
			fi
		done
	done
	# score on the GPU (fp32) against the CPU binary's table
	local exes=("$dir"/bin/golden-*) spec
	for spec in $randoms; do exes+=("$dir/bin/${spec%%:*}"); done
	for exe in "${exes[@]}"; do
		local n=${exe##*/} want
		want=$dir/data/$n.score.tsv
		[ -f "$want" ] || continue
		g "$exe" score --fasta "$dir/data/score.fa" -o "$out/$n.score.tsv" \
			--window "$(score_window "$exe")" --quiet &&
		contract score "$n score" "$out/$n.score.tsv" "$want" 1e-4
	done
	echo "device-tests: $fails failed"
	[ "$fails" = 0 ]
}

# bf16_lm NAME EXE TOKENS LOGITS SCORE FASTA WINDOW: a bf16 binary's top-1
# next token against the fp32 LOGITS on TOKENS, and its score table
# against the fp32 SCORE one (each part left out when its file is "")
bf16_lm() {
	local vocab o=$out/bf16-${1// /-}
	vocab=$("$2" info | sed -n 's/^vocab_size=//p')
	if [ -n "$4" ] && [ -f "$4" ]; then
		g "$2" logits --tokens "$3" -o "$o.logits.npy" &&
		contract top1 "bf16 $1" "$o.logits.npy" "$4" "$vocab"
	fi
	if [ -n "$5" ] && [ -f "$5" ]; then
		g "$2" score --fasta "$6" -o "$o.score.tsv" --window "$7" --quiet &&
		contract score "bf16 $1" "$o.score.tsv" "$5" 5e-3
	fi
}

# The 32k case: fp32 against the CPU binary, bf16 against the CPU's fp32
# (at the kept positions) and against the GPU's fp32 (every position).
run_large() {
	local t=$dir/data/s32k o=$out/s32k
	g "$dir/bin/s32k" embed --tokens "$t.tokens.npy" -o "$o.hidden.npy" &&
	contract close "s32k 1x32768 hidden" "$o.hidden.npy" "$t.hidden.npy" \
		"$t.rows.npy"
	g "$dir/bin/s32k" logits --tokens "$t.tokens.npy" -o "$o.logits.npy" &&
	contract close "s32k 1x32768 logits" "$o.logits.npy" "$t.logits.npy"
	g "$dir/bin/s32k" score --fasta "$t.fa" -o "$o.score.tsv" \
		--window 32768 --quiet &&
	contract score "s32k 2x32768 score" "$o.score.tsv" "$t.score.tsv" 1e-4
	g "$dir/bin/s32k-bf16" embed --tokens "$t.tokens.npy" \
		-o "$o-bf16.hidden.npy" &&
	contract hidden "bf16 s32k 1x32768" "$o-bf16.hidden.npy" \
		"$t.hidden.npy" "$t.rows.npy" &&
	[ -f "$o.hidden.npy" ] &&
	contract hidden "bf16 s32k 1x32768 vs GPU fp32" "$o-bf16.hidden.npy" \
		"$o.hidden.npy"
	bf16_lm "s32k 1x32768" "$dir/bin/s32k-bf16" "$t.tokens.npy" \
		"$t.logits.npy" "$t.score.tsv" "$t.fa" 32768
}

case $mode in
prepare) prepare ;;
run) run ;;
*) echo "usage: device-tests.sh prepare|run DIR" >&2; exit 2 ;;
esac
