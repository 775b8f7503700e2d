#!/bin/sh
# run-python-tests.sh PYTHON HYENAC GOLDEN_DIR SOURCE_DIR - the Python
# package's tests (python/tests) as a ctest test, with the build's
# hyenac. PYTHON is Debian's python3 (CMakeLists.txt prefers
# /usr/bin/python3, whose python3-numpy and python3-pytest
# scripts/install-deps.sh installs); without NumPy or pytest the test
# is skipped (77), saying why. Nothing is written into the source tree
# (no .pyc, no pytest cache).
set -eu
py=$1 hyenac=$2 golden=$3 src=$4
# The sanitizer build links compiled libraries with ASan, which python3
# cannot dlopen (the ASan runtime must come first in the process).
case "${CC:-}" in
*cc-san)
	echo "skipped: the sanitizer build's model libraries need the ASan" \
		"runtime, which python3 does not load; run in a plain build"
	exit 77 ;;
esac
for mod in numpy pytest; do
	if ! "$py" -c "import $mod" 2>/dev/null; then
		echo "skipped: $py cannot import $mod (apt-get install python3-$mod)"
		exit 77
	fi
done
export HYENAC="$hyenac" HYENAC_GOLDEN_DIR="$golden" PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q -p no:cacheprovider "$src/python/tests"
