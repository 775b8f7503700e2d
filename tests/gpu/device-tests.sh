#!/bin/bash
# tests/gpu/device-tests.sh - the GPU target held to the golden outputs
# and to the CPU binary, in two halves, since the machine with the GPU
# has no LLVM (it cannot run hyenac) and this one has no GPU:
#
#   tests/gpu/device-tests.sh prepare DIR   where hyenac is built: compiles
#       ../shared/golden/* and random models with --target cuda into
#       DIR/bin, the random ones for the CPU too, runs the CPU binaries on
#       random tokens (lengths 1, 2, 7, 100, 333 and the longest; batches
#       of 2 and 1) into DIR/data, and copies gpu_tiny_check and the
#       shared libraries the binaries need that a GPU machine may lack
#       (htslib's) into DIR/bin and DIR/lib.
#   tests/gpu/device-tests.sh run DIR       on the GPU machine (bash,
#       python3 with NumPy): gpu_tiny_check, then each GPU binary on the
#       same tokens (embed, logits, classify, --pool mean and last,
#       --layer all), compared with the golden outputs (max abs 2e-4) and
#       the CPU binary's (max abs 2e-4 times the largest |value|, at
#       least 1). One line per comparison; exit 0 when all pass, 1 when
#       one fails, 77 ("skipped: no CUDA device") without a device.
#
# Environment: HYENAC (prepare: the compiler, default build/hyenac; BUILD,
# where gpu_tiny_check is, defaults to its folder),
# GOLDEN (default ../shared/golden), PYTHON (python3 with NumPy; prepare
# defaults to /usr/bin/python3), TARGET (default cuda).
set -euo pipefail
mode=${1:?usage: device-tests.sh prepare|run DIR}
dir=${2:?usage: device-tests.sh prepare|run DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)

# name:d_model:n_layer:order:d_inner:emb_dim:filter_order:max_seq_len:seed
randoms="r64x2:64:2:2:256:5:32:1026:7 r96x3:96:3:3:200:7:32:702:11"

prepare() {
	local hy=${HYENAC:-$here/build/hyenac} golden=${GOLDEN:-$here/../shared/golden}
	local py=${PYTHON:-/usr/bin/python3} target=${TARGET:-cuda}
	local build
	build=${BUILD:-$(dirname "$hy")}
	mkdir -p "$dir/bin" "$dir/data" "$dir/lib"
	for g in "$golden"/*/; do
		local c
		c=$(basename "$g")
		"$hy" compile "$g" -o "$dir/bin/golden-$c" --target "$target"
		for f in tokens hidden logits cls_logits; do
			[ -f "$g/$f.npy" ] && cp "$g/$f.npy" "$dir/data/golden-$c.$f.npy"
		done
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
		for L in 1 2 7 100 333 $((ml - 2)); do
			local B=2 t=$dir/data/$name-$L
			[ "$L" -gt 333 ] && B=1
			"$py" - "$t.tokens.npy" "$B" "$L" <<'PY'
import sys, numpy as np
B, L = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(B * 100003 + L)
np.save(sys.argv[1], rng.integers(0, 12, size=(B, L)).astype(np.int32))
PY
			local cpu=$dir/data/$name-cpu
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.hidden.npy"
			"$cpu" logits --tokens "$t.tokens.npy" -o "$t.logits.npy"
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.mean.npy" --pool mean
			"$cpu" embed --tokens "$t.tokens.npy" -o "$t.last.npy" --pool last
			if [ "$L" = 100 ]; then
				"$cpu" embed --tokens "$t.tokens.npy" -o "$t.layers.npy" \
					--layer all
			fi
		done
		rm "$dir/data/$name-cpu"
	done
	cp "$build/gpu_tiny_check" "$dir/bin/"
	# the shared libraries of a GPU binary beyond the C library's
	ldd "$dir/bin/$name" | awk '$3 ~ /^\// { print $3 }' |
		grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' |
		while read -r lib; do cp -L "$lib" "$dir/lib/"; done
	du -sh "$dir"
}

run() {
	local py=${PYTHON:-python3} fails=0 rc=0
	set +e
	export LD_LIBRARY_PATH=$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	"$dir/bin/gpu_tiny_check" || rc=$?
	if [ "$rc" = 77 ]; then
		echo "skipped: no CUDA device"
		exit 77
	fi
	[ "$rc" = 0 ] || fails=$((fails + 1))
	local out=$dir/out
	mkdir -p "$out"
	# g ARGS...: a GPU binary's run; a failure counts and says so
	g() {
		"$@" && return 0
		echo "FAIL: $*"
		fails=$((fails + 1))
		return 1
	}
	# check NAME GOT WANT ABS|REL
	check() {
		"$py" - "$@" <<'PY' || fails=$((fails + 1))
import sys, numpy as np
name, got, want, kind = sys.argv[1:5]
a, b = np.load(got), np.load(want)
if a.shape != b.shape:
    print("FAIL %s: shape %s, want %s" % (name, a.shape, b.shape)); sys.exit(1)
err = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
tol = 2e-4 if kind == "abs" else 2e-4 * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
ok = np.isfinite(a).all() and err <= tol
print("%s %s: max abs diff %.3g (tolerance %.3g)" % ("ok  " if ok else "FAIL", name, err, tol))
sys.exit(0 if ok else 1)
PY
	}
	for exe in "$dir"/bin/golden-*; do
		local c=${exe##*/golden-} d=$dir/data/golden-${exe##*/golden-}
		if [ -f "$d.cls_logits.npy" ]; then
			g "$exe" classify --tokens "$d.tokens.npy" -o "$out/$c.cls.npy" &&
			check "golden $c classify" "$out/$c.cls.npy" "$d.cls_logits.npy" abs
		fi
		g "$exe" embed --tokens "$d.tokens.npy" -o "$out/$c.hidden.npy" &&
		check "golden $c hidden" "$out/$c.hidden.npy" "$d.hidden.npy" abs
		if [ -f "$d.logits.npy" ]; then
			g "$exe" logits --tokens "$d.tokens.npy" -o "$out/$c.logits.npy" &&
			check "golden $c logits" "$out/$c.logits.npy" "$d.logits.npy" abs
		fi
	done
	for spec in $randoms; do
		local name=${spec%%:*}
		for t in "$dir/data/$name"-*.tokens.npy; do
			local base=${t%.tokens.npy} o
			o=$out/$(basename "$base")
			g "$dir/bin/$name" embed --tokens "$t" -o "$o.hidden.npy" &&
			check "${base##*/} hidden" "$o.hidden.npy" "$base.hidden.npy" rel
			g "$dir/bin/$name" logits --tokens "$t" -o "$o.logits.npy" &&
			check "${base##*/} logits" "$o.logits.npy" "$base.logits.npy" rel
			for p in mean last; do
				g "$dir/bin/$name" embed --tokens "$t" -o "$o.$p.npy" --pool $p &&
				check "${base##*/} pool $p" "$o.$p.npy" "$base.$p.npy" rel
			done
			if [ -f "$base.layers.npy" ]; then
				g "$dir/bin/$name" embed --tokens "$t" -o "$o.layers.npy" \
					--layer all &&
				check "${base##*/} layers" "$o.layers.npy" "$base.layers.npy" rel
			fi
		done
	done
	echo "device-tests: $fails failed"
	[ "$fails" = 0 ]
}

case $mode in
prepare) prepare ;;
run) run ;;
*) echo "usage: device-tests.sh prepare|run DIR" >&2; exit 2 ;;
esac
