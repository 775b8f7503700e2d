"""Fixtures of the Python package's tests (run by `make check` through
tests/run-python-tests.sh, or by hand:
HYENAC=build/hyenac HYENAC_GOLDEN_DIR=../shared/golden python3 -m pytest
python/tests).

Every test runs with its own empty cache ($HYENAC_CACHE) unless it asks
for the session's, where the golden checkpoints are compiled once.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import hyenac  # noqa: E402


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.exit(f"set {name} (tests/run-python-tests.sh does)", 2)
    return v


@pytest.fixture(scope="session")
def hyenac_exe():
    return os.path.abspath(_env("HYENAC"))


@pytest.fixture(scope="session")
def golden():
    d = os.path.abspath(_env("HYENAC_GOLDEN_DIR"))

    def path(case, name=None):
        return os.path.join(d, case, name) if name else os.path.join(d, case)
    return path


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, tmp_path, hyenac_exe):
    monkeypatch.setenv("HYENAC", hyenac_exe)
    monkeypatch.setenv("HYENAC_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def models(golden, session_cache, hyenac_exe):
    """The golden checkpoints compiled once: {case: Model}."""
    old = dict(os.environ)
    os.environ["HYENAC"] = hyenac_exe
    os.environ["HYENAC_CACHE"] = session_cache
    try:
        return {c: hyenac.from_pretrained(golden(c), threads=2)
                for c in ("tiny-1k", "tiny-1k-cls", "odd-order3")}
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.fixture(scope="session")
def binary(golden, hyenac_exe, tmp_path_factory):
    """tiny-1k compiled as a model binary: run(args) -> stdout."""
    d = tmp_path_factory.mktemp("bin")
    out = {}
    for case in ("tiny-1k", "tiny-1k-cls"):
        exe = str(d / case)
        subprocess.run([hyenac_exe, "compile", golden(case), "-o", exe],
                       check=True, capture_output=True)
        out[case] = exe

    def run(case, *args):
        r = subprocess.run([out[case]] + [str(a) for a in args],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout
    return run


def max_abs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) if a.size else 0.0
