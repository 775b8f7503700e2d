"""A compiled model library (``hyenac compile --emit lib``) through
ctypes: the Model class, its input rules and its errors.

Each library is dlopen'ed with RTLD_LOCAL, so several models live in one
process (every library exports the same names); a library finds its own
weights (appended to its file) through /proc/self/maps, wherever it
lies. ctypes releases the GIL for each call, so a forward runs while
other Python threads do; calls on one Model are serialised by a lock
(the handle holds its work memory), and the library's thread pool
(``threads``) is shared by every Model loaded from the same file.

Outputs: the library writes into arrays made here with np.empty, and
they are returned as they are. Inputs of mixed lengths run one batch per
length, in input order within each; pooled rows, scores and classes come
back as one array, per-position outputs (embed without pool, logits) as
a list of [L_i, width] arrays when the lengths differ.
"""

import ctypes
import os
import threading
from collections import namedtuple

import numpy as np

from ._tokenize import tokenize as _tokenize


class HyenacError(Exception):
    """A failure reported by hyenac or a model library: ``message`` is its
    one line, ``status`` the library's HyenacStatus (or the compiler's
    exit status), None when there is none."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


Classification = namedtuple("Classification", "logits probs labels")
Classification.__doc__ = """classify()'s result: logits float32 [B,
num_labels], probs (their softmax, float64) and labels, the predicted
label's name per row (the most probable, the lowest id on a tie)."""

Window = namedtuple("Window", "record start end tokens")
Window.__doc__ = """A FASTA window: the record's name, its 0-based
half-open base coordinates and its token ids (int32)."""

_i32p = ctypes.POINTER(ctypes.c_int32)
_i64 = ctypes.c_int64


class _HyenacWindow(ctypes.Structure):
    _fields_ = [("record", ctypes.c_char_p), ("record_index", _i64),
                ("start", _i64), ("end", _i64), ("tokens", _i32p),
                ("ntokens", _i64)]


_POOL = {"mean": 0, "last": 1}
_FASTA_UPPER, _FASTA_NO_SEP = 2, 4


def _declare(so):
    """Signatures of the API (runtime/hyenac_model.h); optional ones only
    where the library has them."""
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    ptr = ctypes.c_void_p
    sigs = {
        "hyenac_model_load": (ctypes.c_int, [cp, ctypes.POINTER(vp), cp, sz]),
        "hyenac_model_free": (None, [vp]),
        "hyenac_model_embed": (ctypes.c_int, [vp, ptr, _i64, _i64, ptr]),
        "hyenac_model_logits": (ctypes.c_int, [vp, ptr, _i64, _i64, ptr]),
        "hyenac_model_classify": (ctypes.c_int, [vp, ptr, _i64, _i64, ptr]),
        "hyenac_model_embed_pooled": (ctypes.c_int,
                                      [vp, ptr, _i64, _i64, ctypes.c_int,
                                       ptr]),
        "hyenac_model_score": (ctypes.c_int, [vp, ptr, _i64, _i64, ptr]),
        "hyenac_model_hidden": (ctypes.c_int,
                                [vp, ptr, _i64, _i64, _i64, ptr]),
        "hyenac_model_set_threads": (ctypes.c_int, [vp, ctypes.c_int]),
        "hyenac_model_threads": (ctypes.c_int, [vp]),
        "hyenac_model_error": (cp, [vp]),
        "hyenac_model_get_name": (cp, [vp]),
        "hyenac_model_d_model": (_i64, [vp]),
        "hyenac_model_logits_width": (_i64, [vp]),
        "hyenac_model_vocab_size": (_i64, [vp]),
        "hyenac_model_max_len": (_i64, [vp]),
        "hyenac_model_n_layer": (_i64, [vp]),
        "hyenac_model_has_head": (ctypes.c_int, [vp]),
        "hyenac_model_num_labels": (_i64, [vp]),
        "hyenac_model_label_name": (cp, [vp, _i64]),
        "hyenac_model_fasta_open": (ctypes.c_int,
                                    [cp, _i64, _i64, ctypes.c_uint,
                                     ctypes.POINTER(vp), cp, sz]),
        "hyenac_model_fasta_next": (ctypes.c_int,
                                    [vp, ctypes.POINTER(_HyenacWindow)]),
        "hyenac_model_fasta_error": (cp, [vp]),
        "hyenac_model_fasta_close": (None, [vp]),
        "hyenac_model_generate": (ctypes.c_int,
                                  [vp, ptr, _i64, _i64, _i64,
                                   ctypes.c_double, _i64, ctypes.c_double,
                                   ctypes.c_uint64, cp, ptr]),
    }
    have = {}
    for name, (res, args) in sigs.items():
        try:
            fn = getattr(so, name)
        except AttributeError:
            continue
        fn.restype = res
        fn.argtypes = args
        have[name] = fn
    return have


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


class Model:
    """A HyenaDNA model compiled by hyenac: ``hyenac.load(path)`` or
    ``hyenac.from_pretrained(checkpoint)`` make one.

    ``threads``: the forward's threads (the library's pool, the caller
    included); None uses every online core, as the model binaries do.
    """

    def __init__(self, path, threads=None):
        self.path = os.path.abspath(os.fspath(path))
        self._h = None
        if not os.path.isfile(self.path):
            raise HyenacError(f"{self.path}: no such model library")
        try:
            so = ctypes.CDLL(self.path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as e:
            raise HyenacError(f"{self.path}: cannot load: {e}") from None
        self._so = so
        self._fn = _declare(so)
        if "hyenac_model_load" not in self._fn:
            raise HyenacError(f"{self.path}: not a model library from "
                              f"'hyenac compile --emit lib'")
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(1024)
        st = self._fn["hyenac_model_load"](None, ctypes.byref(h), err,
                                           len(err))
        if st != 0:
            raise HyenacError(_text(err.value), st)
        self._h = h
        self._lock = threading.Lock()
        f = self._fn
        self.name = _text(f["hyenac_model_get_name"](h))
        self.d_model = int(f["hyenac_model_d_model"](h))
        self.logits_width = int(f["hyenac_model_logits_width"](h))
        self.vocab_size = int(f["hyenac_model_vocab_size"](h))
        self.max_len = int(f["hyenac_model_max_len"](h))
        self.n_layer = int(f["hyenac_model_n_layer"](h))
        self.has_head = bool(f["hyenac_model_has_head"](h))
        nl = int(f["hyenac_model_num_labels"](h)) \
            if "hyenac_model_num_labels" in f else 0
        self.labels = [_text(f["hyenac_model_label_name"](h, i))
                       for i in range(nl)]
        self.id2label = dict(enumerate(self.labels))
        self.set_threads(threads)

    # ---- handle ------------------------------------------------------------

    def close(self):
        """Release the handle (the library stays mapped, as ctypes keeps
        every library it loaded)."""
        if self._h is not None:
            self._fn["hyenac_model_free"](self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        kind = (f"classifier of {len(self.labels)} labels" if self.labels
                else "LM head" if self.has_head else "no head")
        return (f"<hyenac.Model {self.name}: d_model {self.d_model}, "
                f"{self.n_layer} layers, max_len {self.max_len}, {kind}>")

    def _handle(self):
        if self._h is None:
            raise HyenacError(f"model {self.name} is closed")
        return self._h

    def _need(self, name, what):
        if name not in self._fn:
            raise HyenacError(f"{self.path}: this library has no {name} "
                              f"({what}); recompile it with a newer hyenac")
        return self._fn[name]

    def _check(self, st):
        if st != 0:
            raise HyenacError(_text(self._fn["hyenac_model_error"](self._h))
                              or f"status {st}", st)

    def set_threads(self, threads=None):
        """Threads of the forward (None: every online core)."""
        n = 0 if threads is None else threads
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"threads must be an int or None, not "
                            f"{type(threads).__name__}")
        if "hyenac_model_set_threads" not in self._fn:
            if threads is not None and threads != 1:
                self._need("hyenac_model_set_threads", "a thread count")
            return
        with self._lock:
            self._check(self._fn["hyenac_model_set_threads"](self._handle(),
                                                             n))

    @property
    def threads(self):
        if "hyenac_model_threads" not in self._fn:
            return 1
        return int(self._fn["hyenac_model_threads"](self._handle()))

    # ---- inputs ------------------------------------------------------------

    def tokenize(self, seq, add_special_tokens=True, case="strict"):
        """Token ids of one sequence as HF's HyenaDNA tokenizer gives them
        ([SEP] appended); see hyenac.tokenize."""
        return _tokenize(seq, add_special_tokens, case)

    def _rows(self, seqs):
        """seqs as groups of equal length: a list of (indices, tokens
        int32 [n, L]), and the number of rows."""
        if isinstance(seqs, np.ndarray):
            a = self._ids(seqs, "tokens")
            if a.ndim == 1:
                a = a[None, :]
            if a.ndim != 2:
                raise ValueError(f"token array of shape {seqs.shape}: "
                                 f"give [L] or [B, L]")
            return [(None, np.ascontiguousarray(a))], a.shape[0]
        if isinstance(seqs, (str, bytes, bytearray)):
            seqs = [seqs]
        if not isinstance(seqs, (list, tuple)):
            raise TypeError(f"seqs must be a str, a list of str, or token "
                            f"ids (np.ndarray), not {type(seqs).__name__}")
        rows = []
        for i, s in enumerate(seqs):
            if isinstance(s, (str, bytes, bytearray)):
                rows.append(_tokenize(s))
            else:
                r = self._ids(np.asarray(s), f"seqs[{i}]")
                if r.ndim != 1:
                    raise ValueError(f"seqs[{i}] has shape {r.shape}: each "
                                     f"item is a str or a 1-d token array")
                rows.append(r)
        groups = {}
        for i, r in enumerate(rows):
            groups.setdefault(len(r), []).append(i)
        out = []
        for L, idx in groups.items():
            if L == 0:
                raise HyenacError(f"seqs[{idx[0]}] has no tokens")
            out.append((idx, np.stack([rows[i] for i in idx])))
        return out, len(rows)

    @staticmethod
    def _ids(a, what):
        if a.dtype == np.int32:
            return a
        if a.size and a.dtype.kind not in "iu":
            raise TypeError(f"{what}: token ids must be integers, not "
                            f"{a.dtype}")
        if a.size and (a.min() < np.iinfo(np.int32).min or
                       a.max() > np.iinfo(np.int32).max):
            raise HyenacError(f"{what}: token id {a.max()} is out of range")
        return a.astype(np.int32)

    # ---- forwards ----------------------------------------------------------

    def _call(self, fn, tok, *args):
        B, L = tok.shape
        with self._lock:
            self._check(fn(self._handle(), tok.ctypes.data, B, L, *args))

    def _per_position(self, seqs, width, run):
        """[B, L, width] for one length, else a list of [L_i, width]."""
        groups, B = self._rows(seqs)
        if len(groups) == 1:
            _, tok = groups[0]
            out = np.empty((tok.shape[0], tok.shape[1], width), np.float32)
            run(tok, out)
            return out
        res = [None] * B
        for idx, tok in groups:
            out = np.empty((tok.shape[0], tok.shape[1], width), np.float32)
            run(tok, out)
            for k, i in enumerate(idx):
                res[i] = out[k]
        return res

    def _per_row(self, seqs, shape, dtype, run):
        """[B, *shape]: each length group's rows in their places."""
        groups, B = self._rows(seqs)
        res = np.empty((B,) + shape, dtype)
        for idx, tok in groups:
            if idx is None or idx == list(range(B)):
                run(tok, res)
            else:
                out = np.empty((len(idx),) + shape, dtype)
                run(tok, out)
                res[idx] = out
        return res

    def embed(self, seqs, pool=None, layer=None):
        """Hidden states: float32 [B, L, d_model] after the final norm
        (HF's last_hidden_state), a list of [L_i, d_model] for mixed
        lengths; pool="mean"|"last": [B, d_model] (the binary's `embed
        --pool`: mean over every position, [SEP] included; last: the last
        position).

        layer=K: one of HF's output_hidden_states, numbered as HF numbers
        that tuple: 0 the embeddings, K in 1..n_layer the residual stream
        after block K (before any norm), n_layer + 1 the final norm's
        output (the same as layer=None). A K outside 0..n_layer+1 raises
        HyenacError. layer="all": every one of them, [B, n_layer + 2, L,
        d_model] ([B, n_layer + 2, d_model] pooled; a list of [n_layer +
        2, L_i, d_model] for mixed lengths), n_layer + 2 forwards."""
        if pool is not None and pool not in _POOL:
            raise ValueError(f"pool must be 'mean', 'last' or None, not "
                             f"{pool!r}")
        d = self.d_model
        if isinstance(layer, str):
            if layer != "all":
                raise ValueError(f"layer must be an int, 'all' or None, "
                                 f"not {layer!r}")
            each = [self.embed(seqs, pool, k)
                    for k in range(self.n_layer + 2)]
            if isinstance(each[0], list):
                return [np.stack([e[i] for e in each])
                        for i in range(len(each[0]))]
            return np.stack(each, axis=1)
        if layer is not None:
            fn = self._need("hyenac_model_hidden",
                            "hidden states of a layer")
            if not isinstance(layer, (int, np.integer)) or \
                    isinstance(layer, bool):
                raise TypeError(f"layer must be an int, 'all' or None, not "
                                f"{type(layer).__name__}")

            def run(tok, out):
                self._call(fn, tok, int(layer), out.ctypes.data)
            if pool is None:
                return self._per_position(seqs, d, run)

            def pooled(tok, out):
                h = np.empty((tok.shape[0], tok.shape[1], d), np.float32)
                run(tok, h)
                out[...] = (h.mean(axis=1, dtype=np.float64)
                            if pool == "mean" else h[:, -1])
            return self._per_row(seqs, (d,), np.float32, pooled)
        if pool is None:
            fn = self._fn["hyenac_model_embed"]
            return self._per_position(
                seqs, d, lambda tok, out: self._call(fn, tok,
                                                     out.ctypes.data))
        fn = self._need("hyenac_model_embed_pooled", "pooled embeddings")
        return self._per_row(
            seqs, (d,), np.float32,
            lambda tok, out: self._call(fn, tok, _POOL[pool],
                                        out.ctypes.data))

    def logits(self, seqs):
        """LM head logits: float32 [B, L, logits_width] (the vocabulary
        padded; HF's ``.logits``), a list for mixed lengths."""
        fn = self._fn["hyenac_model_logits"]
        return self._per_position(
            seqs, self.logits_width,
            lambda tok, out: self._call(fn, tok, out.ctypes.data))

    def score(self, seqs, reduce="sum"):
        """Log-likelihood of each sequence, float64 [B], as the binary's
        `score` computes a window's: log p of every token given the ones
        before it, the first token and a final [SEP] not scored.
        reduce="mean" divides by the tokens scored (the binary's
        mean_logp; NaN for a row with none)."""
        if reduce not in ("sum", "mean"):
            raise ValueError(f"reduce must be 'sum' or 'mean', not "
                             f"{reduce!r}")
        fn = self._need("hyenac_model_score", "scores")

        def run(tok, out):
            self._call(fn, tok, out.ctypes.data)
            if reduce == "mean":
                n = tok.shape[1] - 1 - ((tok[:, -1] == 1) &
                                        (tok.shape[1] >= 2))
                with np.errstate(invalid="ignore", divide="ignore"):
                    out /= np.where(n > 0, n, np.nan)
        return self._per_row(seqs, (), np.float64, run)

    def classify(self, seqs):
        """A fine-tuned classifier's output (HF's
        HyenaDNAForSequenceClassification): logits [B, num_labels] read
        before each row's first pad token, their softmax, and each row's
        predicted label name (Classification)."""
        if not self.labels:
            raise HyenacError(f"model {self.name} is no classifier (its "
                              f"checkpoint has no num_labels/score.weight)",
                              4)
        fn = self._fn["hyenac_model_classify"]
        logits = self._per_row(
            seqs, (len(self.labels),), np.float32,
            lambda tok, out: self._call(fn, tok, out.ctypes.data))
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True) if len(z) else 0
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True) if len(z) else 1
        best = logits.argmax(axis=1) if len(z) else []
        return Classification(logits, probs,
                              [self.labels[int(k)] for k in best])

    # ---- generation ------------------------------------------------------

    def generate(self, prompt, max_new=100, temperature=1.0, top_k=0,
                 top_p=1.0, seed=0, num_samples=1, allowed="ACGTN"):
        """Sample max_new bases after the prompt, num_samples times: a list
        of num_samples strings, each the prompt (upper case) then its new
        bases. The library's hyenac_model_generate, the binary's
        `generate` itself: the same settings give the same sequences.
        temperature 0 is greedy (the highest allowed logit); top_k (0: no
        cut, up to 5) and top_p (nucleus, 1: no cut) trim the allowed
        bases before the draw; sample i has its own generator seeded by
        (seed, i). prompt: a str of ACGTN (either case) or base token
        ids. A prompt + max_new past max_len, a prompt character that is
        no base, or a model compiled without a decode step raise
        HyenacError with the library's message."""
        fn = self._need("hyenac_model_generate", "generation")
        if isinstance(prompt, (str, bytes, bytearray)):
            text = prompt.decode("latin-1") if not isinstance(prompt, str) \
                else prompt
            tok = _tokenize(text.upper(), add_special_tokens=False)
        else:
            tok = self._ids(np.asarray(prompt), "prompt")
            if tok.ndim != 1:
                raise ValueError(f"prompt has shape {tok.shape}: give a str "
                                 f"or a 1-d token array")
        tok = np.ascontiguousarray(tok, np.int32)
        for name, v in (("max_new", max_new), ("top_k", top_k),
                        ("seed", seed), ("num_samples", num_samples)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, not "
                                f"{type(v).__name__}")
        if not 0 <= seed < 2 ** 63:
            raise HyenacError(f"seed {seed} is outside 0..2^63-1")
        if not isinstance(allowed, str):
            raise TypeError(f"allowed must be a str, not "
                            f"{type(allowed).__name__}")
        M, N = int(num_samples), int(max_new)
        out = np.empty((max(M, 0), max(N, 0)), np.int32)
        with self._lock:
            self._check(fn(self._handle(), tok.ctypes.data, tok.shape[0],
                           N, M, float(temperature), int(top_k),
                           float(top_p), int(seed),
                           allowed.encode("latin-1", "replace"),
                           out.ctypes.data))
        bases = np.full(16, ord("N"), np.uint8)
        bases[[7, 8, 9, 10, 11]] = np.frombuffer(b"ACGTN", np.uint8)
        head = bases[tok].tobytes().decode("ascii")
        return [head + bases[r].tobytes().decode("ascii") for r in out]

    # ---- FASTA -------------------------------------------------------------

    def read_fasta(self, path, window=None, stride=None,
                   add_special_tokens=True, case="strict"):
        """The windows of a FASTA file (plain or gzip), cut and tokenized
        as the binary's ``--fasta`` commands cut them: window bases
        (default: max_len less the [SEP]) every stride bases (default:
        the window). A list of Window(record, start, end, tokens); feed
        ``[w.tokens for w in ws]`` to embed, score or classify."""
        fo = self._need("hyenac_model_fasta_open", "a FASTA reader")
        f = self._fn
        special = 1 if add_special_tokens else 0
        if case not in ("strict", "upper"):
            raise ValueError(f"case must be 'strict' or 'upper', not {case!r}")
        flags = (0 if add_special_tokens else _FASTA_NO_SEP) | \
            (_FASTA_UPPER if case == "upper" else 0)
        w = self.max_len - special if window is None else int(window)
        s = 0 if stride is None else int(stride)
        if w > self.max_len - special:
            raise HyenacError(f"window {w}: model {self.name} takes at most "
                              f"{self.max_len - special} bases a window")
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(1024)
        st = fo(os.fsencode(path), w, s, flags, ctypes.byref(h), err,
                len(err))
        if st != 0:
            raise HyenacError(_text(err.value), st)
        out = []
        try:
            win = _HyenacWindow()
            while True:
                r = f["hyenac_model_fasta_next"](h, ctypes.byref(win))
                if r == 0:
                    break
                if r < 0:
                    raise HyenacError(_text(f["hyenac_model_fasta_error"](h)),
                                      -r)
                tok = np.ctypeslib.as_array(win.tokens, (win.ntokens,))
                out.append(Window(_text(win.record), win.start, win.end,
                                  tok.copy()))
        finally:
            f["hyenac_model_fasta_close"](h)
        return out
