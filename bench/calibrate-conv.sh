#!/bin/sh
# Measure the direct and FFT long-convolution kernels on this machine and
# write the cost model passes/convsel.c uses (passes/convsel_model.h).
# Run from the repository root after `make build`; commit the result with
# a note of the machine (lscpu's model name).
set -eu
BUILD=${BUILD:-build}
cmake --build "$BUILD" --target calibrate_conv >/dev/null
"$BUILD/calibrate_conv" > passes/convsel_model.h.new
{
	echo "/* Machine: $(lscpu | sed -n 's/^Model name: *//p') */"
	cat passes/convsel_model.h.new
} > passes/convsel_model.h
rm -f passes/convsel_model.h.new
cat passes/convsel_model.h
