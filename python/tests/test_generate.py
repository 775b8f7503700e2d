"""Model.generate against the model binary's `generate` (the same
settings must give the same sequences: greedy, seeded sampling with the
cuts, several samples, a restricted alphabet), greedy against a
step-free path (argmax of full forwards through logits()), and its
errors; embed(layer=K) in HF's output_hidden_states numbering against
the golden states and the checkpoint's own tensors."""

import json
import struct
import subprocess

import numpy as np
import pytest

import hyenac
from conftest import max_abs

TOL = 2e-4


def binary_generate(binary, tmp_path, prompt, **kw):
    """The binary's samples: its FASTA records' sequences, in order."""
    out = tmp_path / "gen.fa"
    args = ["generate", "--prompt", prompt, "-o", out]
    for k, v in kw.items():
        args += ["--" + k.replace("_", "-"), v]
    binary("tiny-1k", *args)
    seqs = []
    for line in out.read_text().splitlines():
        if line.startswith(">"):
            seqs.append("")
        else:
            seqs[-1] += line
    return seqs


SETTINGS = [
    dict(max_new=40, temperature=0, num_samples=2),
    dict(max_new=60, temperature=0.8, top_k=4, top_p=0.9, seed=7,
         num_samples=3),
    dict(max_new=100, seed=123456789, num_samples=4, allowed="GCA"),
    dict(max_new=30, temperature=1.5, top_p=0.5, seed=3),
    dict(max_new=25),
]


@pytest.mark.parametrize("kw", SETTINGS)
def test_generate_equals_binary(models, binary, tmp_path, kw):
    m = models["tiny-1k"]
    prompt = "ACGTTGCAacgtNNGA"
    got = m.generate(prompt, **kw)
    want = binary_generate(binary, tmp_path, prompt, **kw)
    assert got == want
    M = kw.get("num_samples", 1)
    assert len(got) == M and all(isinstance(s, str) for s in got)
    assert all(len(s) == len(prompt) + kw["max_new"] for s in got)
    assert all(s.startswith(prompt.upper()) for s in got)
    new = "".join(s[len(prompt):] for s in got)
    assert set(new) <= set(kw.get("allowed", "ACGTN"))
    # a seed is a stream per sample: sample i alone is sample i of many
    if M > 1:
        assert m.generate(prompt, **dict(kw, num_samples=1)) == got[:1]


def test_greedy_is_argmax_of_full_forwards(models):
    """Greedy decoding through prefill + steps equals a loop of whole
    forwards (logits(), no decode step) taking the highest allowed
    logit each time."""
    m = models["tiny-1k"]
    ids = {7: "A", 8: "C", 9: "G", 10: "T", 11: "N"}
    seq = "GATTACAGATTACA"
    for allowed in ("ACGTN", "AT"):
        want = seq
        cand = [i for i, b in ids.items() if b in allowed]
        for _ in range(12):
            lg = m.logits(np.array([[7 + "ACGTN".index(c) for c in want]],
                                   np.int32))[0, -1]
            want += ids[max(cand, key=lambda i: (lg[i], -i))]
        assert m.generate(seq, max_new=12, temperature=0,
                          allowed=allowed) == [want]
    # token ids are a prompt too
    tok = np.array([7 + "ACGTN".index(c) for c in seq])
    assert m.generate(tok, max_new=5, temperature=0) == \
        m.generate(seq, max_new=5, temperature=0)


def test_generate_errors(models, golden, hyenac_exe, tmp_path):
    m = models["tiny-1k"]

    def err(status, words, *a, **kw):
        with pytest.raises(hyenac.HyenacError) as e:
            m.generate(*a, **kw)
        assert e.value.status == status, e.value
        assert "\n" not in e.value.message
        for w in words:
            assert w in e.value.message, e.value.message
        return e.value.message

    # prompt + max_new past the compiled length (1026 for tiny-1k)
    err(2, ["1000", "27", "1027", "1026"], "A" * 1000, max_new=27)
    assert len(m.generate("A" * 1000, max_new=26, temperature=0)[0]) == 1026
    err(3, ["prompt token 4", "not a base"], "ACGX")
    err(3, ["not a base"], np.array([7, 8, 1]))
    err(2, ["empty"], "")
    err(1, ["'Z' is not one of ACGTN"], "ACG", allowed="AZ")
    err(1, ["twice"], "ACG", allowed="AA")
    err(1, ["top_k 6"], "ACG", top_k=6)
    err(1, ["top_p"], "ACG", top_p=0)
    err(1, ["temperature"], "ACG", temperature=-1)
    err(1, ["max_new 0"], "ACG", max_new=0)
    err(1, ["num_samples 0"], "ACG", num_samples=0)
    # a classifier has no LM head
    with pytest.raises(hyenac.HyenacError) as e:
        models["tiny-1k-cls"].generate("ACGT", max_new=2)
    assert e.value.status == 4 and "LM head" in e.value.message
    # a library compiled without a decode step
    lib = str(tmp_path / "libo0.so")
    subprocess.run([hyenac_exe, "compile", golden("tiny-1k"), "--emit",
                    "lib", "--seq-len", "96", "-O0", "-o", lib],
                   check=True, capture_output=True)
    with hyenac.load(lib) as o0:
        with pytest.raises(hyenac.HyenacError) as e:
            o0.generate("ACGT", max_new=4)
        assert e.value.status == 9 and "decode step" in e.value.message
        assert "\n" not in e.value.message


def _tensor(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        t = head[name]
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        f.seek(8 + n + a)
        return np.frombuffer(f.read(b - a), np.float32).reshape(t["shape"])


def test_embed_layers_are_hf_hidden_states(models, golden):
    m = models["tiny-1k"]
    tok = np.load(golden("tiny-1k", "tokens.npy"))
    hid = np.load(golden("tiny-1k", "hidden.npy"))
    st = golden("tiny-1k", "model.safetensors")
    last = m.n_layer + 1
    # n_layer + 1: the final norm, HF's last_hidden_state = embed()
    assert max_abs(m.embed(tok, layer=last), hid) <= TOL
    assert max_abs(m.embed(tok, layer=last), m.embed(tok)) == 0
    # 0: the embeddings, the checkpoint's table looked up
    emb = _tensor(st, "hyena.backbone.embeddings.word_embeddings.weight")
    assert max_abs(m.embed(tok, layer=0), emb[tok]) <= 1e-6
    # n_layer: the residual stream before ln_f, which gives the golden
    x = m.embed(tok, layer=m.n_layer).astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * \
        _tensor(st, "hyena.backbone.ln_f.weight") + \
        _tensor(st, "hyena.backbone.ln_f.bias")
    assert max_abs(y, hid) <= TOL
    # "all": [B, n_layer + 2, L, d], each slice its own layer
    a = m.embed(tok, layer="all")
    assert a.shape == (tok.shape[0], m.n_layer + 2, tok.shape[1], m.d_model)
    for k in range(m.n_layer + 2):
        assert max_abs(a[:, k], m.embed(tok, layer=k)) == 0
    p = m.embed(tok, pool="last", layer="all")
    assert p.shape == (tok.shape[0], m.n_layer + 2, m.d_model)
    assert max_abs(p, a[:, :, -1]) == 0
    mixed = m.embed(["ACGT", "ACGTACG"], layer="all")
    assert [x.shape for x in mixed] == [(m.n_layer + 2, 5, m.d_model),
                                        (m.n_layer + 2, 8, m.d_model)]
    # outside 0..n_layer+1: the library's message, naming the range
    for bad in (-1, last + 1):
        with pytest.raises(hyenac.HyenacError) as e:
            m.embed(tok, layer=bad)
        assert e.value.status == 1 and f"layer {bad}" in e.value.message
        assert str(last) in e.value.message
    with pytest.raises(ValueError):
        m.embed(tok, layer="every")
    with pytest.raises(TypeError):
        m.embed(tok, layer=1.0)
