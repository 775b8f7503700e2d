#!/bin/bash
# bench/gpu-error-split.sh - where a GPU binary's fp32 error comes from:
# one model compiled for cuda:sm_90a (3xTF32 GEMMs on warpgroup MMA) and
# for cuda:sm_75 (fp32 FMA GEMMs, no tensor cores; its PTX loads on any
# later GPU), both with cuFFT, run on the same tokens and held to the CPU
# binary's outputs (FFTW, fp32 FMA GEMMs). What the two GPU builds share
# against the CPU is the FFT and the other kernels; what sm_90a adds on
# top is the GEMMs' TF32 splitting. A measurement, not a test.
#
#   bench/gpu-error-split.sh --prepare DIR [MODEL]   where hyenac is built
#       (HYENAC, default build/hyenac; PYTHON with numpy, default
#       /usr/bin/python3): the two GPU binaries, the tokens (2 x L, L the
#       model's length, seeded), the CPU binary's logits and two slices of
#       its hidden states (the first and the last 8192 positions), and in
#       DIR/lib the shared libraries the binaries need beyond the C
#       library's. MODEL defaults to models/hyenadna-small-32k.yaml (DIR
#       is then about 58 MB, under the device machine's 64 MiB a call).
#   bench/gpu-error-split.sh DIR                     on the GPU machine
#       (PYTHON with numpy, default python3): prints the table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --prepare ]; then
	py=${PYTHON:-/usr/bin/python3}
	dir=${2:?usage: gpu-error-split.sh --prepare DIR [MODEL]}
	model=${3:-$here/models/hyenadna-small-32k.yaml}
	hy=${HYENAC:-$here/build/hyenac}
	mkdir -p "$dir/lib"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	"$hy" compile "$model" -o "$dir/sm_90a" --target cuda:sm_90a
	"$hy" compile "$model" -o "$dir/sm_75" --target cuda:sm_75
	"$hy" compile "$model" -o "$tmp/cpu"
	# the compiled length: max_seq_len less the two the checkpoints keep
	L=$("$hy" info "$model" | sed -n 's/.*max_seq_len=\([0-9]*\).*/\1/p')
	"$py" - "$dir/tok.npy" "$((L - 2))" <<'EOF'
import sys
import numpy as np
L = int(sys.argv[2])
rng = np.random.default_rng(5)
np.save(sys.argv[1], rng.integers(7, 11, size=(2, L)).astype(np.int32))
EOF
	"$tmp/cpu" logits --tokens "$dir/tok.npy" -o "$dir/ref-logits.npy"
	"$tmp/cpu" embed --tokens "$dir/tok.npy" -o "$tmp/hidden.npy"
	"$py" - "$tmp/hidden.npy" "$dir" <<'EOF'
import sys
import numpy as np
h = np.load(sys.argv[1])
n = min(8192, h.shape[1])
np.save(sys.argv[2] + "/ref-first.npy", h[0, :n])
np.save(sys.argv[2] + "/ref-last.npy", h[1, -n:])
EOF
	"$here/scripts/copy-libs.sh" "$dir/sm_90a" "$dir/lib"
	du -sh "$dir"
	exit 0
fi
dir=${1:?usage: gpu-error-split.sh DIR (or --prepare DIR [MODEL])}
py=${PYTHON:-python3}
export LD_LIBRARY_PATH=$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# where the lent GPU machines keep the driver
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/usr/local/nvidia/lib64
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for b in sm_90a sm_75; do
	"$dir/$b" logits --tokens "$dir/tok.npy" -o "$out/l-$b.npy"
	"$dir/$b" embed --tokens "$dir/tok.npy" -o "$out/h-$b.npy"
done
"$py" - "$dir" "$out" <<'EOF'
import sys
import numpy as np
d, o = sys.argv[1], sys.argv[2]
rl = np.load(d + "/ref-logits.npy")
r0, r1 = np.load(d + "/ref-first.npy"), np.load(d + "/ref-last.npy")
n = r0.shape[0]
h = {}
print("| | logits, max | hidden, first %d: max / mean | hidden, last %d: max / mean |" % (n, n))
print("| --- | ---: | ---: | ---: |")
for b in ("sm_90a", "sm_75"):
    lg = np.load("%s/l-%s.npy" % (o, b))
    h[b] = np.load("%s/h-%s.npy" % (o, b))
    e0, e1 = abs(h[b][0, :n] - r0), abs(h[b][1, -n:] - r1)
    print("| %s against the CPU | %.2g | %.2g / %.2g | %.2g / %.2g |"
          % (b, abs(lg - rl).max(), e0.max(), e0.mean(), e1.max(), e1.mean()))
e = abs(h["sm_90a"] - h["sm_75"])
print("| sm_90a against sm_75 | | %.2g / %.2g (all positions) | |" % (e.max(), e.mean()))
EOF
