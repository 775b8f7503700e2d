"""from_pretrained's cache and the package's errors: a hit loads without
running the compiler, a changed checkpoint compiles again, two processes
at once compile once and both load, a failed compile leaves nothing,
and every error is a HyenacError with one line. The compiler is counted
through a wrapper script named by $HYENAC that logs each `compile`."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hyenac
from conftest import max_abs

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def counted(tmp_path, hyenac_exe, monkeypatch):
    """$HYENAC as a wrapper that appends a line to a log per compile;
    returns a function giving the number of compiles so far."""
    log = tmp_path / "compiles.log"
    w = tmp_path / "hyenac-wrapper"
    w.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = compile ] && echo "$$" >> "{log}"
        exec "{hyenac_exe}" "$@"
        """))
    w.chmod(0o755)
    monkeypatch.setenv("HYENAC", str(w))
    return lambda: len(log.read_text().splitlines()) if log.exists() else 0


def _copy(golden, case, tmp_path):
    d = tmp_path / case
    shutil.copytree(golden(case), d)
    return str(d)


def test_hit_and_invalidation(golden, tmp_path, counted):
    ck = _copy(golden, "tiny-1k", tmp_path)
    tok = np.load(golden("tiny-1k", "tokens.npy"))
    a = hyenac.from_pretrained(ck)
    assert counted() == 1
    b = hyenac.from_pretrained(ck)
    assert counted() == 1 and b.path == a.path
    assert a.path.startswith(os.environ["HYENAC_CACHE"])
    assert max_abs(b.embed(tok), np.load(golden("tiny-1k",
                                                "hidden.npy"))) <= 2e-4
    # flags are part of the key
    c = hyenac.from_pretrained(ck, seq_len=512)
    assert counted() == 2 and c.max_len == 512 and c.path != a.path
    hyenac.from_pretrained(ck, seq_len=512)
    assert counted() == 2
    # a changed weight (same size, new contents) compiles again
    before = a.embed(tok[:, :64])
    w = os.path.join(ck, "model.safetensors")
    data = bytearray(open(w, "rb").read())
    n = int.from_bytes(data[:8], "little")
    at = 8 + n + json.loads(data[8:8 + n])[
        "hyena.backbone.ln_f.bias"]["data_offsets"][0]
    data[at:at + 4] = np.float32(3.5).tobytes()
    open(w, "wb").write(bytes(data))
    d = hyenac.from_pretrained(ck)
    assert counted() == 3 and d.path != a.path
    assert max_abs(d.embed(tok[:, :64]), before) > 0
    # and a changed config too
    cfg = os.path.join(ck, "config.json")
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("1e-05", "2e-05"))
    hyenac.from_pretrained(ck)
    assert counted() == 4


def test_yaml_checkpoint(tmp_path, counted):
    src = os.path.join(HERE, "..", "..", "models", "hyenadna-tiny-1k.yaml")
    y = tmp_path / "m.yaml"
    shutil.copy(src, y)
    m = hyenac.from_pretrained(str(y), seq_len=128)
    assert m.name == "hyenadna-tiny-1k" and m.max_len == 128
    hyenac.from_pretrained(str(y), seq_len=128)
    assert counted() == 1
    y.write_text(y.read_text().replace("seed: 1", "seed: 2"))
    m2 = hyenac.from_pretrained(str(y), seq_len=128)
    assert counted() == 2
    assert max_abs(m.embed("ACGT"), m2.embed("ACGT")) > 0


def test_two_processes_at_once(golden, tmp_path, counted):
    ck = _copy(golden, "tiny-1k", tmp_path)
    code = textwrap.dedent(f"""\
        import sys; sys.path.insert(0, {os.path.dirname(HERE)!r})
        import numpy as np, hyenac
        m = hyenac.from_pretrained({ck!r})
        t = np.load({golden("tiny-1k", "tokens.npy")!r})
        h = np.load({golden("tiny-1k", "hidden.npy")!r})
        assert np.abs(m.embed(t) - h).max() <= 2e-4
        print(m.path)
        """)
    procs = [subprocess.Popen([sys.executable, "-c", code],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate() for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert len({out.strip() for out, _ in outs}) == 1
    assert counted() == 1
    cache = os.environ["HYENAC_CACHE"]
    assert not [n for n in os.listdir(cache) if ".tmp." in n]


def test_compile_errors(tmp_path, counted):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"d_model": 128, "n_layer": }')
    with pytest.raises(hyenac.HyenacError) as e:
        hyenac.from_pretrained(str(bad))
    msg = e.value.message
    assert "\n" not in msg and "config.json" in msg, msg
    assert e.value.status == 1
    cache = os.environ["HYENAC_CACHE"]
    assert [n for n in os.listdir(cache) if not n.endswith(".lock")
            and n != "hashes"] == []
    with pytest.raises(hyenac.HyenacError, match="no such checkpoint"):
        hyenac.from_pretrained(str(tmp_path / "absent.yaml"))
    with pytest.raises(ValueError, match="seq_len"):
        hyenac.from_pretrained(str(bad), seq_len=0)


def test_no_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("HYENAC", str(tmp_path / "nothing"))
    with pytest.raises(hyenac.HyenacError, match="HYENAC=.*not an exec"):
        hyenac.from_pretrained(str(tmp_path))
    monkeypatch.delenv("HYENAC")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(hyenac.HyenacError, match="cannot find the hyenac"):
        hyenac.find_hyenac()


def test_load_errors(tmp_path, models):
    with pytest.raises(hyenac.HyenacError, match="no such model library"):
        hyenac.load(str(tmp_path / "libnone.so"))
    junk = tmp_path / "libjunk.so"
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(hyenac.HyenacError, match="cannot load"):
        hyenac.load(str(junk))
    # a stripped copy has lost its weights: the library's own message
    lib = tmp_path / "libcut.so"
    data = open(models["tiny-1k"].path, "rb").read()
    lib.write_bytes(data[:-100])
    with pytest.raises(hyenac.HyenacError) as e:
        hyenac.load(str(lib))
    assert e.value.status == 6 and "libcut.so" in e.value.message
    assert "\n" not in e.value.message


def test_forward_errors(models):
    m = models["tiny-1k"]
    with pytest.raises(hyenac.HyenacError) as e:
        m.embed(np.array([[7, 8, 99]]))
    assert e.value.status == 3 and "99" in e.value.message
    assert "\n" not in e.value.message
    with pytest.raises(hyenac.HyenacError, match="exceeds 1026") as e:
        m.score("A" * 1100)
    assert e.value.status == 2
    with pytest.raises(hyenac.HyenacError, match="no classifier"):
        m.classify("ACGT")
    with pytest.raises(hyenac.HyenacError, match="LM head"):
        models["tiny-1k-cls"].logits("ACGT")
    with pytest.raises(hyenac.HyenacError, match="LM head"):
        models["tiny-1k-cls"].score("ACGT")
    with pytest.raises(hyenac.HyenacError, match="out of range"):
        m.embed(np.array([[7, 2**40]]))
    with pytest.raises(TypeError):
        m.embed(3.5)
    with pytest.raises(TypeError):
        m.embed(np.array([[7.0, 8.0]]))
    with pytest.raises(ValueError):
        m.embed("ACGT", pool="max")
    with pytest.raises(ValueError):
        m.embed(np.zeros((1, 2, 3), np.int32))
    with pytest.raises(hyenac.HyenacError, match="no tokens"):
        m.embed(["ACGT", np.array([], np.int32)])
    if "hyenac_model_hidden" not in m._fn:
        with pytest.raises(hyenac.HyenacError,
                           match="no hyenac_model_hidden"):
            m.embed("ACGT", layer=1)
    else:
        h = m.embed("ACGT", layer=m.n_layer)
        assert h.shape == (1, 5, 128)
        assert m.embed("ACGT", layer=0, pool="mean").shape == (1, 128)
    with pytest.raises(hyenac.HyenacError, match="closed"):
        c = hyenac.load(m.path)
        c.close()
        c.embed("ACGT")


def test_install_offline_into_venv(tmp_path):
    """`python3 -m pip install ./python` in a venv with the system's
    packages, no index: nothing is downloaded; the package imports from
    the venv."""
    src = tmp_path / "src"
    shutil.copytree(os.path.dirname(HERE), src,
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                    str(venv)], check=True, capture_output=True)
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-index",
                        "--disable-pip-version-check", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([py, "-c", "import hyenac, numpy; print(hyenac."
                        "__file__); print(hyenac.tokenize('ACGT'))"],
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(venv)), r.stdout
    assert "[ 7  8  9 10  1]" in r.stdout
