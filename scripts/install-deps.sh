#!/bin/sh
# Install the Debian 12 packages hyenac needs, and only those missing.
# `apt-get update` runs first when anything is missing: a fresh machine's
# package lists may be empty.
set -eu

# g++ builds codegen/x86cpu.cpp, the one C++ file (LLVM's x86 processor
# table has no C API). valgrind runs a generated binary in the suite (tests/test_valgrind.c);
# clang-19 and libclang-rt-19-dev (libFuzzer) build `make fuzz`.
# graphviz (`dot`) renders `hyenac ir --dot` in the suite (tests/test_dot.c).
# python3-pytest, -pip and -venv: the Python package (python/) is tested
# with pytest and installed offline into a venv (`python3 -m venv` needs
# -venv to put pip in it) by its test and the README's set-up. Its build
# backend is in the tree and needs nothing.
# libopenmpi-dev (libmpi, ompi-c.pc) builds the runtime that `hyenac
# compile --mpi` links; openmpi-bin (mpirun) runs it in tests/test_mpi.c.
# libhts-dev: model binaries read VCF/BCF, BED and faidx-indexed FASTA
# through htslib (vep, --regions), linked dynamically; tabix gives the
# tests bgzip.
PACKAGES="cmake make gcc g++ pkg-config llvm-19-dev llvm-19-tools libfftw3-dev \
libyaml-dev check zlib1g-dev python3-numpy valgrind clang-19 \
libclang-rt-19-dev graphviz python3-pytest python3-pip python3-venv \
libopenmpi-dev openmpi-bin libhts-dev tabix"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
