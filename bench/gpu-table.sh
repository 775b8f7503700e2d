#!/bin/bash
# bench/gpu-table.sh - hyenac's GPU binaries against PyTorch on the same
# GPU, eager and torch.compile, side by side in one run, with each
# shape's lower bounds from the GPU's own limits. For the lent H200
# machine, which has PyTorch and CUDA but no LLVM 19: the binaries are
# compiled elsewhere and brought along, the checkpoints made there from
# the same YAML with the same seed (bench/make_checkpoint.py), and each
# case first holds the binary's hidden states to PyTorch's (2e-4).
#
#   bench/gpu-table.sh --prepare DIR   where hyenac is built (HYENAC,
#       default build/hyenac; PYTHON with numpy and yaml, default
#       /usr/bin/python3): the checkpoints and the binaries below, and in
#       DIR/lib the shared libraries they need beyond the C library's
#   bench/gpu-table.sh DIR             on the GPU machine: the table
#
# DIR holds NAME binaries compiled from the checkpoints make_checkpoint.py
# makes, for the shapes (NAME BxL):
#   tiny-1k 64x1024, small-32k 8x32768, medium-160k 1x160000,
#   large-1m 1x1000000
# made where hyenac is built by
#   bench/make_checkpoint.py models/hyenadna-NAME.yaml CK/NAME
#   hyenac compile CK/NAME -o DIR/NAME --seq-len L --target $TARGET
# (TARGET: default cuda:sm_90a, the H200's own architecture, whose GEMMs
# run on warpgroup MMA; cuda for plain sm_90, whose PTX also loads on
# later GPUs)
# (a missing one is left out; medium-160k without its binary runs as
# large-1m's binary and checkpoint at L = 160000, the same architecture
# and work, which keeps DIR under the device machine's 64 MiB: --prepare
# makes tiny-1k, small-32k and large-1m). large-1m-bf16 (the same,
# compiled with --precision bf16) gets a row of its own against PyTorch
# under torch.autocast to bf16 (torch_hyenadna.py --bf16), eager and
# compiled. PYTHON (default python3) must import torch with CUDA and
# numpy; BIN_LIBS (a folder of shared libraries the binaries need,
# htslib's, where the machine lacks them) goes on their library path only; REPS (default 10; 3 for L > 100000); DEVICE (default 0);
# COMPILE_TIMEOUT (default 180 s: a torch.compile run past it shows as
# "-"); HYENAC_GPU_MEMORY is passed to the binaries as it is. large-1m gets a
# second row, hyenac alone under HYENAC_GPU_MEMORY=$CAP (default 8G, the
# issue's bound: its filter spectra are then made on every forward
# instead of kept, 2 GB a layer at that length).
#
# Columns: the median of REPS timed forwards (after warm-ups) of the whole
# model with its LM head, outputs left on the device on both sides
# (hyenac bench; torch_hyenadna.py --bench --device cuda, fp32, TF32 off);
# the ratios torch/hyenac; GPU memory: hyenac's peak of what it holds
# (weights, activations, work, kept filter spectra, cuFFT's work area)
# and torch.cuda.max_memory_allocated (eager / compiled); and the H200's
# limits for the shape as lower bounds in ms: FLOPs (the binary's
# flops_per_token x B x L) at 67 TFLOP/s (fp32, no tensor cores) and at
# 989 TFLOP/s (bf16 dense tensor cores), and bytes at 4.8 TB/s (HBM3e)
# where bytes = the weights once + the residual stream read and written
# once per layer (2 x n_layer x B x L x d_model x 4) + the logits written
# (B x L x vocab x 4): what no implementation can avoid moving.
# Prints a markdown table on stdout (progress on stderr); asserts no speed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --prepare ]; then
	dir=${2:?usage: gpu-table.sh --prepare DIR}
	hy=${HYENAC:-$here/build/hyenac}
	py=${PYTHON:-/usr/bin/python3}
	target=${TARGET:-cuda:sm_90a}
	mkdir -p "$dir/lib" "$dir/ckpt"
	for c in tiny-1k:1024 small-32k:32768; do
		IFS=: read -r name L <<<"$c"
		"$py" "$here/bench/make_checkpoint.py" \
			"$here/models/hyenadna-$name.yaml" "$dir/ckpt/$name" >&2
		"$hy" compile "$dir/ckpt/$name" -o "$dir/$name" --seq-len "$L" \
			--target "$target"
	done
	# large-1m from its YAML: the checkpoint stores each layer's
	# positional buffer (pos_emb.z, 20 MB a layer at 1M), which makes
	# a 195 MB binary, past the 64 MiB a device call carries; the YAML's
	# weights come from its seed, so the run does not compare its
	# hidden states with PyTorch's (the timing does not depend on them)
	"$hy" compile "$here/models/hyenadna-large-1m.yaml" -o "$dir/large-1m" \
		--seq-len 1000000 --target "$target"
	touch "$dir/large-1m.seeded"
	# and for bf16: the same weights (the blob keeps them in fp32, so
	# the two binaries pack together: DIR is 87 MB, `tar cf - DIR |
	# xz -6 --lzma2=dict=192MiB` about 39 MB, under what a call carries)
	"$hy" compile "$here/models/hyenadna-large-1m.yaml" \
		-o "$dir/large-1m-bf16" --seq-len 1000000 --target "$target" \
		--precision bf16
	rm -rf "$dir/ckpt"
	"$here/scripts/copy-libs.sh" "$dir/tiny-1k" "$dir/lib"
	du -sh "$dir"
	exit 0
fi
dir=$1
PYTHON=${PYTHON:-python3}
work=${WORK:-/tmp/hyenac-gpu-table}
DEVICE=${DEVICE:-0}
mkdir -p "$work"

kv() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -1; }
bin() { env ${BIN_LIBS:+LD_LIBRARY_PATH="$BIN_LIBS"} "$@"; }
torch_cuda() {
	CUDA_VISIBLE_DEVICES=$DEVICE "$PYTHON" "$here/bench/torch_hyenadna.py" \
		"$@" --device cuda
}

echo "| shape | BxL | hyenac ms | torch eager ms | torch.compile ms | eager/hyenac | compile/hyenac | hyenac GPU MiB | torch GPU MiB eager / compile | fp32 limit ms | bf16 limit ms | HBM limit ms |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in tiny-1k:64:1024 small-32k:8:32768 medium-160k:1:160000 \
	large-1m:1:1000000 large-1m-bf16:1:1000000; do
	IFS=: read -r name B L <<<"$c"
	exe=$dir/$name model=$name label=$name prec=()
	if [ "$name" = large-1m-bf16 ]; then
		model=large-1m label="large-1m, bf16 (torch: autocast)" prec=(--bf16)
	fi
	if [ ! -x "$exe" ] && [ "$name" = medium-160k ] && [ -x "$dir/large-1m" ]; then
		exe=$dir/large-1m model=large-1m label="medium-160k (large-1m's weights)"
	fi
	[ -x "$exe" ] || { echo "gpu-table: no $exe, left out" >&2; continue; }
	ck=$work/ckpt-$model
	[ -d "$ck" ] || "$PYTHON" "$here/bench/make_checkpoint.py" \
		"$here/models/hyenadna-$model.yaml" "$ck" >&2
	# the same model on both sides: hidden states of one row
	tok=$work/tok-$name.npy
	"$PYTHON" - "$tok" "$L" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(1).integers(7, 11, size=(1, int(sys.argv[2]))).astype(np.int32))
PY
	if [ -e "$dir/$model.seeded" ] || [ ${#prec[@]} -gt 0 ]; then
		label="$label (weights from the YAML seed, not compared)"
	else
		bin "$exe" embed --tokens "$tok" -o "$work/hid-$name.npy" \
			--device "$DEVICE" >&2
		torch_cuda "$ck" --tokens "$tok" --expect "$work/hid-$name.npy" >&2
	fi
	reps=${REPS:-10}
	[ -z "${REPS:-}" ] && [ "$L" -gt 100000 ] && reps=3
	echo "gpu-table: $name ${B}x$L" >&2
	hy=$(bin "$exe" bench --batch "$B" --seq-len "$L" --reps "$reps" \
		--device "$DEVICE")
	echo "$hy" >&2
	info=$(bin "$exe" info)
	ea=$(torch_cuda "$ck" --bench --batch "$B" --seq-len "$L" --reps "$reps" \
		${prec[@]+"${prec[@]}"})
	echo "$ea" >&2
	co=$(CUDA_VISIBLE_DEVICES=$DEVICE timeout "${COMPILE_TIMEOUT:-180}" \
		"$PYTHON" "$here/bench/torch_hyenadna.py" "$ck" --device cuda \
		--bench --batch "$B" --seq-len "$L" --reps "$reps" --compile \
		${prec[@]+"${prec[@]}"} \
		2>/dev/null || true)
	echo "$co" >&2
	awk -v n="$label" -v b="${B}x$L" -v B="$B" -v L="$L" \
		-v h="$(kv median_ms <<<"$hy")" -v hm="$(kv gpu_peak_mib <<<"$hy")" \
		-v e="$(kv median_ms <<<"$ea")" -v em="$(kv peak_mib <<<"$ea")" \
		-v c="$(kv median_ms <<<"${co:-}")" -v cm="$(kv peak_mib <<<"${co:-}")" \
		-v fpt="$(kv flops_per_token <<<"$info")" \
		-v wb="$(kv weight_bytes <<<"$info")" \
		-v d="$(kv d_model <<<"$info")" -v nl="$(kv n_layer <<<"$info")" \
		-v v="$(kv logits_width <<<"$info")" 'BEGIN {
		flops = fpt * B * L
		bytes = wb + 2 * nl * B * L * d * 4 + B * L * v * 4
		printf "| %s | %s | %.2f | %.2f | %s | %.2f | %s | %.0f | %.0f / %s | %.3f | %.3f | %.3f |\n",
		       n, b, h, e, c == "" ? "-" : sprintf("%.2f", c), e / h,
		       c == "" ? "-" : sprintf("%.2f", c / h), hm, em,
		       cm == "" ? "-" : sprintf("%.0f", cm),
		       flops / 67e12 * 1e3, flops / 989e12 * 1e3,
		       bytes / 4.8e12 * 1e3 }'
	if [ "$name" = large-1m ] && [ "${CAP:-8G}" != none ]; then
		capped=$(HYENAC_GPU_MEMORY=${CAP:-8G} bin "$exe" bench --batch "$B" \
			--seq-len "$L" --reps "$reps" --device "$DEVICE")
		echo "$capped" >&2
		awk -v n="$name, HYENAC_GPU_MEMORY=${CAP:-8G}" -v b="${B}x$L" \
			-v h="$(kv median_ms <<<"$capped")" \
			-v hm="$(kv gpu_peak_mib <<<"$capped")" -v e="$(kv median_ms <<<"$ea")" \
			'BEGIN { printf "| %s | %s | %.2f | - | - | %.2f | - | %.0f | - | - | - | - |\n",
			         n, b, h, e / h, hm }'
	fi
done
