#!/bin/sh
# run-lib-example.sh HYENAC SOURCE_DIR WORK_DIR - the library example as a
# ctest test: compile the tiny model with --emit lib, build
# examples/embed_example.c against it with cc, run it from another
# directory (the library finds its weights by itself) and check what it
# printed.
set -eu
hyenac=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work/lib" "$work/run"
"$hyenac" compile "$src/models/hyenadna-tiny-1k.yaml" -o "$work/lib/libtiny.so" \
	--emit lib
test -f "$work/lib/hyenac_model.h"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -o "$work/embed_example" \
	"$src/examples/embed_example.c" -I"$work/lib" -L"$work/lib" -ltiny \
	-Wl,-rpath,"$work/lib" -lm
# Only the API is exported.
if nm -D --defined-only "$work/lib/libtiny.so" | grep -v ' hyenac_model_\| hyenac_status_string\| hyenac_tokenize' | grep -q ' [TDBR] '; then
	echo "libtiny.so exports more than the API:" >&2
	nm -D --defined-only "$work/lib/libtiny.so" >&2
	exit 1
fi
cd "$work/run"
"$work/embed_example" > out.txt
cat out.txt
grep -q '^model hyenadna-tiny-1k: d_model 128, layers 2, max_len 1026, head yes$' out.txt
grep -q '^sequence of 36 bases: 37 tokens$' out.txt
grep -q '^mean embedding\[0..4\]: -\{0,1\}[0-9]' out.txt
grep -q '^log p(sequence) = -[0-9]' out.txt
grep -q '^bad token: status 3 (token id out of range): ' out.txt
grep -q '^too long: status 2 ' out.txt
grep -q '^ok$' out.txt
