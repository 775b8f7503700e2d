#!/bin/bash
# bench/cpu-table.sh - hyenac against PyTorch eager and torch.compile on
# one machine, side by side in one run, for machines where bench/run
# cannot build (no LLVM 19 there: the lent 16-core machine). The model
# binaries are compiled elsewhere and brought along; the checkpoints are
# made here from the same YAML with the same seed (bench/make_checkpoint.py),
# so both sides run the same weights, and each case first holds the
# binary's hidden states to PyTorch's (2e-4).
#
#   bench/cpu-table.sh DIR [THREADS...]      (default threads: 1 and nproc)
#
# DIR holds NAME-L binaries, compiled from the checkpoint
# bench/make_checkpoint.py makes (hyenac compile CKPT -o DIR/NAME-L
# --seq-len L --target-cpu ...; the script makes the same checkpoint here
# and the hidden-state check catches any difference), for the cases it
# has of: tiny-1k 8x1024, small-32k 1x32768, medium-160k 1x160000. PYTHON
# (default python3) must import torch and numpy. Prints a markdown table;
# nothing here asserts a speed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
threads=${*:-"1 $(nproc)"}
PYTHON=${PYTHON:-python3}
work=${WORK:-/tmp/hyenac-cpu-table}
mkdir -p "$work"

median() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
echo "| model | BxL | threads | hyenac ms | torch eager ms | torch.compile ms | eager/hyenac | compile/hyenac |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in tiny-1k:8:1024 small-32k:1:32768 medium-160k:1:160000; do
	IFS=: read -r name B L <<<"$c"
	exe=$dir/$name-$L
	[ -x "$exe" ] || continue
	ck=$work/ckpt-$name
	[ -d "$ck" ] || "$PYTHON" "$here/bench/make_checkpoint.py" \
		"$here/models/hyenadna-$name.yaml" "$ck" >&2
	"$PYTHON" - "$work/tok-$name.npy" "$L" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(1).integers(7, 11, size=(1, int(sys.argv[2]))).astype(np.int32))
PY
	"$exe" embed --tokens "$work/tok-$name.npy" -o "$work/hid-$name.npy" --threads "$(nproc)" >&2
	"$PYTHON" "$here/bench/torch_hyenadna.py" "$ck" --tokens "$work/tok-$name.npy" \
		--expect "$work/hid-$name.npy" --threads "$(nproc)" >&2
	for T in $threads; do
		reps=5
		[ "$L" -gt 100000 ] && reps=2
		hy=$("$exe" bench --batch "$B" --seq-len "$L" --threads "$T" --reps "$reps" | median)
		ea=$("$PYTHON" "$here/bench/torch_hyenadna.py" "$ck" --bench --batch "$B" \
			--seq-len "$L" --threads "$T" --reps "$reps" | median)
		co=$("$PYTHON" "$here/bench/torch_hyenadna.py" "$ck" --bench --batch "$B" \
			--seq-len "$L" --threads "$T" --reps "$reps" --compile 2>/dev/null | median || true)
		awk -v n="$name" -v b="${B}x$L" -v t="$T" -v h="$hy" -v e="$ea" -v c="${co:-}" 'BEGIN {
			printf "| %s | %s | %d | %.1f | %.1f | %s | %.2f | %s |\n", n, b, t, h, e,
			       c == "" ? "-" : sprintf("%.1f", c), e / h,
			       c == "" ? "-" : sprintf("%.2f", c / h) }'
	done
done
