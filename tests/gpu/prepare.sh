#!/bin/sh
# Prepare, on the build machine, what tests/gpu/device.sh checks on a
# machine with an NVIDIA GPU and no LLVM: for each golden case the GPU
# host object (hyenac compile --target cuda --emit obj), the packed
# weights (tests/gpu/dumpblob.c) and the golden arrays, in build/gpu-check
# (ignored by git: carry it). usage: tests/gpu/prepare.sh [BUILD_DIR]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
out=$build/gpu-check
golden=$src/../shared/golden
rm -rf "$out" && mkdir -p "$out"
cc -O1 -I"$src" -I/usr/lib/llvm-19/include -o "$out/dumpblob" \
	"$src/tests/gpu/dumpblob.c" "$build/libhyenac_core.a" \
	"$build/libhyenac_rt.a" -L/usr/lib/llvm-19/lib -lLLVM-19 -lyaml -lz \
	-lfftw3f -lm -lpthread
for m in tiny-1k tiny-1k-cls odd-order3; do
	"$build/hyenac" compile "$golden/$m" -o "$out/$m.hostobj" \
		--target cuda --emit obj
	"$out/dumpblob" "$golden/$m" "$out/$m.blob"
	mkdir -p "$out/g_$m" && cp "$golden/$m"/*.npy "$out/g_$m/"
done
cp "$src/tests/gpu/harness.c" "$src/tests/gpu/cmp.py" \
	"$src/runtime/hygpu.h" "$out/"
rm -f "$out/dumpblob"
echo "now: device run with carry build/gpu-check: sh tests/gpu/device.sh"
