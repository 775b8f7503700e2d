#!/bin/bash
# tests/gpu/dryrun.sh HYENAC GOLDEN PYTHON BUILD - the ctest
# gpu_device_dryrun: tests/gpu/device-tests.sh's two halves on a machine
# without a GPU, so that the one device call they are written for does
# not fail on the script itself. TARGET=cpu makes every "GPU" binary a
# CPU one (fp32 and --precision bf16), LARGE=0 leaves the 32k case out,
# and gpu_tiny_check runs on the stand-in driver (BUILD's libfake_cuda.so
# and libfake_cufft.so); the run half must then pass every check, the
# bf16 ones (the CPU's bf16 against fp32: issue 15's contract, which
# test_bf16 holds too) among them. Then tests/gpu/contract.py must catch
# what is outside the contract: hidden states 2% off, logits whose top-1
# differs, one window's score 1% off, a shape that differs. Skipped (77)
# when PYTHON cannot import NumPy.
set -u
hy=$1 golden=$2 py=$3 build=$4
here=$(cd "$(dirname "$0")/../.." && pwd)
if ! "$py" -c "import numpy" 2>/dev/null; then
	echo "skipped: $py cannot import numpy (apt-get install python3-numpy)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

HYENAC=$hy GOLDEN=$golden PYTHON=$py TARGET=cpu LARGE=0 BUILD=$build \
	"$here/tests/gpu/device-tests.sh" prepare "$tmp/dt" > "$tmp/prep.log" 2>&1 ||
	{ cat "$tmp/prep.log"; fail "device-tests.sh prepare"; }
PYTHON=$py TINY_ARGS="--driver $build/libfake_cuda.so --cufft $build/libfake_cufft.so" \
	"$here/tests/gpu/device-tests.sh" run "$tmp/dt" > "$tmp/run.log" 2>&1
rc=$?
cat "$tmp/run.log"
[ "$rc" = 0 ] || fail "device-tests.sh run: exit $rc"
grep -q '^device-tests: 0 failed$' "$tmp/run.log" || fail "no summary line"
# every bf16 check of the golden cases and random models: hidden (7),
# top-1 (6), score (4)
n=$(grep -c '^ok   bf16 ' "$tmp/run.log")
[ "$n" = 17 ] || fail "$n bf16 checks passed, want 17"
n=$(grep -c '^ok   .* score: score sum_logp' "$tmp/run.log")
[ "$n" = 4 ] || fail "$n fp32 score checks passed, want 4"

# contract.py: each check must fail outside the contract, with its line
c=$here/tests/gpu/contract.py d=$tmp/dt/data
"$py" - "$d" "$tmp" <<'PY' || fail "making the wrong answers"
import sys, numpy as np
d, t = sys.argv[1], sys.argv[2]
h = np.load(d + "/golden-tiny-1k.hidden.npy")
np.save(t + "/h-off.npy", h * 1.02)
np.save(t + "/h-short.npy", h[:, :100])
l = np.load(d + "/golden-tiny-1k.logits.npy")
l2 = l.copy()
l2[0, :40, :12] = l2[0, :40, 11::-1]  # 40 of 2048 positions reversed
np.save(t + "/l-off.npy", l2)
rows = open(d + "/golden-tiny-1k.score.tsv").read().split("\n")
f = rows[3].split("\t")
f[4] = "%.9g" % (float(f[4]) * 1.01)
rows[3] = "\t".join(f)
open(t + "/s-off.tsv", "w").write("\n".join(rows))
PY
want_fail() {
	local out
	out=$("$py" "$c" "$@")
	[ $? = 1 ] || fail "contract.py $* passed: $out"
	case $out in "FAIL "*) echo "$out" ;; *) fail "contract.py $*: $out" ;; esac
}
want_fail hidden off "$tmp/h-off.npy" "$d/golden-tiny-1k.hidden.npy"
want_fail hidden short "$tmp/h-short.npy" "$d/golden-tiny-1k.hidden.npy"
want_fail top1 off "$tmp/l-off.npy" "$d/golden-tiny-1k.logits.npy" 12
want_fail score off "$tmp/s-off.tsv" "$d/golden-tiny-1k.score.tsv" 5e-3
want_fail score windows "$d/golden-odd-order3.score.tsv" \
	"$d/golden-tiny-1k.score.tsv" 5e-3
want_fail close off "$tmp/h-off.npy" "$d/golden-tiny-1k.hidden.npy"
echo "dry run: ok"
