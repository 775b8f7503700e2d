#!/bin/sh
# make demo: compile the default model to a self-contained executable and
# run it on the bundled example (examples/example-tokens.npy: the token ids
# of examples/example.fa, A=7 C=8 G=9 T=10 N=11), then time it.
set -eu
BUILD=${1:-build}
MODEL=${2:-models/hyenadna-tiny-1k.yaml}
HYENAC="$BUILD/hyenac"
EXE="$BUILD/demo-model"

echo "== model: $MODEL"
"$HYENAC" info "$MODEL"
echo "== hyenac compile $MODEL -o $EXE"
"$HYENAC" compile "$MODEL" -o "$EXE"
ls -l "$EXE"
if "$EXE" info | grep '^random_weights=seed' >/dev/null; then
	echo "== note: $MODEL gives a seed, not trained weights: the weights" \
		"are random, so the scores below carry no biology"
fi
echo "== embeddings and next-base logits for examples/example.fa"
"$EXE" embed --tokens examples/example-tokens.npy -o "$BUILD/demo-embed.npy"
"$EXE" logits --tokens examples/example-tokens.npy -o "$BUILD/demo-logits.npy"
echo "== straight from FASTA: a mean-pooled embedding and log-likelihoods"
"$EXE" embed --fasta examples/example.fa --pool mean --quiet \
	-o "$BUILD/demo-pooled.npy"
cat "$BUILD/demo-pooled.tsv"
"$EXE" score --fasta examples/example.fa --quiet -o "$BUILD/demo-score.tsv"
cat "$BUILD/demo-score.tsv"
echo "== the same through the reference interpreter"
"$HYENAC" run "$MODEL" logits --interp --tokens examples/example-tokens.npy \
	-o "$BUILD/demo-logits-interp.npy"
echo "== speed of the compiled model"
"$EXE" bench --batch 1 --seq-len 1024 --reps 5
echo "== done: $BUILD/demo-embed.npy, $BUILD/demo-logits.npy"
