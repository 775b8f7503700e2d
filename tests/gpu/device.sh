#!/bin/sh
# On the device machine (CUDA, no LLVM), after tests/gpu/prepare.sh:
# build tests/gpu/harness.c against each host object, run every entry
# of each golden case whole and in chunks of 100, compare (cmp.py).
set -u
cd "$(dirname "$0")/../../build/gpu-check" || exit 1
sed -i 's|"../../runtime/hygpu.h"|"hygpu.h"|' harness.c
for m in tiny-1k tiny-1k-cls odd-order3; do
	cp $m.hostobj /tmp/$m.o
	nvcc -O2 -o /tmp/h_$m harness.c /tmp/$m.o -lcuda -lcufft || exit 1
	for e in forward logits pooled classify hidden_states; do
		/tmp/h_$m $m.blob $e g_$m/tokens.npy out_${m}_$e 2>&1 | tail -2
	done
	/tmp/h_$m $m.blob forward g_$m/tokens.npy out_${m}_forward_c 100 2>&1 |
		tail -2
done
python3 cmp.py
