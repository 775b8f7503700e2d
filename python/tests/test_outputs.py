"""Outputs of the Python package against the golden checkpoints (the
official PyTorch outputs, 2e-4) and against a compiled model binary's
commands on the same input (the binary's own code path: tokens files,
FASTA, its TSVs), and mixed-length lists against their rows run alone."""

import csv
import ctypes
import os

import numpy as np
import pytest

import hyenac
from conftest import max_abs

TOL = 2e-4


@pytest.mark.parametrize("case", ["tiny-1k", "odd-order3"])
def test_golden_embed_and_logits(models, golden, case):
    m = models[case]
    tok = np.load(golden(case, "tokens.npy"))
    h = m.embed(tok)
    assert h.dtype == np.float32 and h.flags.c_contiguous
    assert max_abs(h, np.load(golden(case, "hidden.npy"))) <= TOL
    assert max_abs(m.logits(tok), np.load(golden(case, "logits.npy"))) <= TOL
    # a 1-d array is one row; int64 ids (numpy's default) are taken too
    assert max_abs(m.embed(tok[1].astype(np.int64))[0],
                   np.load(golden(case, "hidden.npy"))[1]) <= TOL


def test_golden_classifier(models, golden):
    m = models["tiny-1k-cls"]
    tok = np.load(golden("tiny-1k-cls", "tokens.npy"))
    r = m.classify(tok)
    want = np.load(golden("tiny-1k-cls", "cls_logits.npy"))
    assert max_abs(r.logits, want) <= TOL
    p = np.exp(want - want.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert max_abs(r.probs, p) <= TOL
    assert r.labels == [m.labels[k] for k in want.argmax(1)]
    assert m.labels == ["class_0", "class_1"]
    assert m.id2label == {0: "class_0", 1: "class_1"}
    assert max_abs(m.embed(tok), np.load(golden("tiny-1k-cls",
                                                "hidden.npy"))) <= TOL


def test_pooled_against_golden_and_binary(models, golden, binary, tmp_path):
    m = models["tiny-1k"]
    tok = np.load(golden("tiny-1k", "tokens.npy"))
    hid = np.load(golden("tiny-1k", "hidden.npy")).astype(np.float64)
    assert max_abs(m.embed(tok, pool="mean"), hid.mean(1)) <= TOL
    assert max_abs(m.embed(tok, pool="last"), hid[:, -1]) <= TOL
    np.save(tmp_path / "t.npy", tok)
    for pool in ("mean", "last"):
        binary("tiny-1k", "embed", "--tokens", tmp_path / "t.npy", "-o",
               tmp_path / "x.npy", "--pool", pool)
        assert max_abs(m.embed(tok, pool=pool),
                       np.load(tmp_path / "x.npy")) <= 1e-5


def _fasta(tmp_path, seqs):
    p = tmp_path / "in.fa"
    with open(p, "w") as f:
        for i, s in enumerate(seqs):
            f.write(f">r{i} description\n")
            for k in range(0, len(s), 60):
                f.write(s[k:k + 60] + "\n")
    return p


def _tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


SEQS = ["ACGTACGTNNACGT" * 7, "GGGGCCCAATTA", "acgtRYACGTTGCA" * 30,
        "TTTTTTTTTT" * 50]


def test_score_matches_binary(models, binary, tmp_path):
    m = models["tiny-1k"]
    fa = _fasta(tmp_path, SEQS)
    binary("tiny-1k", "score", "--fasta", fa, "-o", tmp_path / "s.tsv")
    rows = _tsv(tmp_path / "s.tsv")
    assert len(rows) == len(SEQS)
    s, mean = m.score(SEQS), m.score(SEQS, reduce="mean")
    assert s.dtype == np.float64 and s.shape == (len(SEQS),)
    for i, r in enumerate(rows):
        assert abs(s[i] - float(r["sum_logp"])) <= 1e-6 * abs(s[i]) + 1e-6
        assert abs(mean[i] - float(r["mean_logp"])) <= 1e-6
    # without [SEP]: the same scores (the model is causal)
    nosep = [hyenac.tokenize(x, add_special_tokens=False) for x in SEQS]
    assert max_abs(m.score(nosep), s) <= 1e-4


def test_score_against_golden_logits(models, golden):
    m = models["tiny-1k"]
    tok = np.load(golden("tiny-1k", "tokens.npy"))
    g = np.load(golden("tiny-1k", "logits.npy")).astype(np.float64)
    lse = np.log(np.exp(g).sum(-1))
    want = [sum(g[b, p, tok[b, p + 1]] - lse[b, p] for p in range(1023))
            for b in range(2)]
    assert max_abs(m.score(tok), want) <= 1e-3  # sums of 1023 terms


def test_classify_matches_binary(models, binary, tmp_path):
    m = models["tiny-1k-cls"]
    fa = _fasta(tmp_path, SEQS)
    binary("tiny-1k-cls", "classify", "--fasta", fa, "-o",
           tmp_path / "p.tsv")
    rows = _tsv(tmp_path / "p.tsv")
    r = m.classify(SEQS)
    for i, row in enumerate(rows):
        for k, name in enumerate(m.labels):
            assert abs(r.probs[i, k] - float(row[name])) <= 1e-6
        assert r.labels[i] == row["predicted"]


def test_read_fasta_matches_binary_windows(models, binary, tmp_path):
    m = models["tiny-1k"]
    fa = _fasta(tmp_path, SEQS)
    binary("tiny-1k", "embed", "--fasta", fa, "-o", tmp_path / "x.npy",
           "--window", 100, "--stride", 80)
    idx = _tsv(tmp_path / "x.tsv")
    ws = m.read_fasta(fa, window=100, stride=80)
    assert [(w.record, w.start, w.end, len(w.tokens)) for w in ws] == \
        [(r["record"], int(r["start"]), int(r["end"]), int(r["tokens"]))
         for r in idx]
    for w in ws:
        seq = SEQS[int(w.record[1:])][w.start:w.end]
        assert np.array_equal(w.tokens, hyenac.tokenize(seq))
    got = m.embed([w.tokens for w in ws], pool="mean")
    assert max_abs(got, np.load(tmp_path / "x.npy")) <= 1e-5
    up = m.read_fasta(fa, window=50, case="upper", add_special_tokens=False)
    assert np.array_equal(up[0].tokens,
                          hyenac.tokenize(SEQS[0][:50].upper(), False))
    with pytest.raises(hyenac.HyenacError, match="at most 1025"):
        m.read_fasta(fa, window=2000)


def test_mixed_lengths(models):
    m = models["tiny-1k"]
    seqs = ["ACGTAC", "GATTACA", "AC", "TTGCAATG", "GATTACA"]
    alone = [m.embed(s)[0] for s in seqs]
    ragged = m.embed(seqs)
    assert isinstance(ragged, list) and len(ragged) == len(seqs)
    for a, b in zip(ragged, alone):
        assert a.shape == b.shape and max_abs(a, b) <= 1e-6
    lg = m.logits(seqs)
    assert [x.shape for x in lg] == [(len(s) + 1, 16) for s in seqs]
    for pool in ("mean", "last"):
        p = m.embed(seqs, pool=pool)
        assert p.shape == (len(seqs), 128)
        for i, s in enumerate(seqs):
            assert max_abs(p[i], m.embed(s, pool=pool)[0]) <= 1e-6
        last = np.stack([a[-1] for a in alone])
        if pool == "last":
            assert max_abs(p, last) <= 1e-5
        else:
            assert max_abs(p, np.stack([a.mean(0) for a in alone])) <= 1e-5
    sc = m.score(seqs)
    assert max_abs(sc, [m.score(s)[0] for s in seqs]) <= 1e-9
    # one length: one array; tokens and strings mix
    same = m.embed(["ACGT", np.array([7, 8, 9, 10, 1])])
    assert isinstance(same, np.ndarray) and same.shape == (2, 5, 128)
    assert max_abs(same[0], same[1]) == 0
    assert m.embed([], pool="mean").shape == (0, 128)
    assert m.score([]).shape == (0,)


def test_threads_give_one_result(models, golden):
    tok = np.load(golden("tiny-1k", "tokens.npy"))
    m = hyenac.load(models["tiny-1k"].path, threads=1)
    assert m.threads == 1
    one = m.embed(tok)
    m.set_threads(2)
    assert m.threads == 2
    assert max_abs(m.embed(tok), one) <= 1e-6
    with pytest.raises(hyenac.HyenacError, match="-3 threads") as e:
        m.set_threads(-3)
    assert e.value.status == 1 and "\n" not in e.value.message


def test_two_models_coexist(models, golden):
    a, b = models["tiny-1k"], models["odd-order3"]
    ta = np.load(golden("tiny-1k", "tokens.npy"))
    tb = np.load(golden("odd-order3", "tokens.npy"))
    for _ in range(2):
        assert max_abs(a.embed(ta), np.load(golden("tiny-1k",
                                                   "hidden.npy"))) <= TOL
        assert max_abs(b.embed(tb), np.load(golden("odd-order3",
                                                   "hidden.npy"))) <= TOL


def test_tokenize_as_hf_and_the_library(models):
    t = hyenac.tokenize
    # HF CharacterTokenizer (LongSafari tokenization_hyena.py): one id
    # per character, [SEP] appended, no [CLS], case-sensitive, others
    # [UNK]; special-token spellings are one token; [MASK] strips the
    # whitespace before it.
    assert t("ACGTN").tolist() == [7, 8, 9, 10, 11, 1]
    assert t("acgtX").tolist() == [6, 6, 6, 6, 6, 1]
    assert t("").tolist() == [1]
    assert t("AC", add_special_tokens=False).tolist() == [7, 8]
    assert t("A[SEP]C[PAD]").tolist() == [7, 1, 8, 4, 1]
    assert t("A  [MASK]C").tolist() == [7, 3, 8, 1]
    assert t("[RESERVED]").tolist() == [6] * 10 + [1]
    assert t("Aé").tolist() == [7, 6, 1]
    assert t("Aé".encode()).tolist() == [7, 6, 6, 1]
    assert t("acgtn", case="upper").tolist() == [7, 8, 9, 10, 11, 1]
    assert t("ACGT").dtype == np.int32
    # the library's hyenac_tokenize (the binary's tokenizer) on bytes
    so = ctypes.CDLL(models["tiny-1k"].path, mode=os.RTLD_LOCAL)
    fn = so.hyenac_tokenize
    fn.restype = ctypes.c_int64
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                   ctypes.c_size_t, ctypes.c_uint]
    rng = np.random.default_rng(5)
    for k in range(20):
        s = rng.choice(list(b"ACGTNacgtnRY -\x00\xc3\xa9"), 40)
        s = s.astype(np.uint8).tobytes()
        for flags, case in ((1, "strict"), (3, "upper")):
            out = np.empty(41, np.int32)
            assert fn(s, len(s), out.ctypes.data, 41, flags) == 41
            assert np.array_equal(out, t(s, case=case))


def test_python_threads_share_models(models, golden):
    """Python threads on one model (serialised by its lock) and on two
    models (running at once: ctypes releases the GIL) all get the golden
    outputs."""
    import threading
    cases = ["tiny-1k", "odd-order3"] * 3
    want = {c: np.load(golden(c, "hidden.npy")) for c in set(cases)}
    tok = {c: np.load(golden(c, "tokens.npy")) for c in set(cases)}
    errs = [None] * len(cases)

    def work(i, c):
        errs[i] = max_abs(models[c].embed(tok[c]), want[c])
    ts = [threading.Thread(target=work, args=(i, c))
          for i, c in enumerate(cases)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(e is not None and e <= TOL for e in errs), errs
