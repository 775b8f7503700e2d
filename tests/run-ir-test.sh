#!/bin/sh
# Run one FileCheck-style IR test: every "; RUN:" line of FILE, with %s the
# file, %hyenac the compiler, %FileCheck FileCheck and %t a scratch file
# (removed after), must succeed.
# usage: run-ir-test.sh FILE HYENAC FILECHECK
set -eu
file=$1 hyenac=$2 filecheck=$3
runs=$(sed -n 's/^; *RUN: *//p' "$file")
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
[ -n "$runs" ] || { echo "$file: no RUN line" >&2; exit 1; }
echo "$runs" | while IFS= read -r cmd; do
	cmd=$(printf '%s' "$cmd" | sed -e "s|%hyenac|$hyenac|g" \
		-e "s|%FileCheck|$filecheck|g" -e "s|%s|$file|g" -e "s|%t|$tmp|g")
	echo "RUN: $cmd"
	bash -o pipefail -c "$cmd" || exit 1
done
