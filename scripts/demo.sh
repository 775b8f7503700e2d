#!/bin/sh
# make demo: run the default model end to end on the bundled example
# (examples/example-tokens.npy, the token ids of examples/example.fa:
# A=7 C=8 G=9 T=10 N=11) and summarise what happened.
set -eu
BUILD=${1:-build}
MODEL=${2:-models/hyenadna-tiny-1k.yaml}
HYENAC="$BUILD/hyenac"

echo "== model: $MODEL"
"$HYENAC" info "$MODEL"
echo "== embeddings and next-base logits for examples/example.fa"
"$HYENAC" run "$MODEL" embed --tokens examples/example-tokens.npy \
	-o "$BUILD/demo-embed.npy"
"$HYENAC" run "$MODEL" logits --tokens examples/example-tokens.npy \
	-o "$BUILD/demo-logits.npy"
echo "== done: $BUILD/demo-embed.npy, $BUILD/demo-logits.npy"
