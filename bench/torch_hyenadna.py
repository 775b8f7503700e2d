#!/usr/bin/env python3
"""
torch_hyenadna.py - HyenaDNA inference in PyTorch eager, the baseline that
bench/run measures hyenac against.

    bench/torch_hyenadna.py --check-golden [DIR ...]
    bench/torch_hyenadna.py MODEL --tokens T.npy [-o H.npy] [--expect H.npy]
    bench/torch_hyenadna.py MODEL --bench --batch B --seq-len L \
                            [--threads T] [--reps R] [--warmup W] [--compile]
                            [--device cpu|cuda] [--bf16]

MODEL is a HuggingFace-layout checkpoint directory (config.json +
model.safetensors), the same one hyenac compiles. The forward is written
from the semantics in ../shared/golden/README.md and follows the shape of
the official implementation, since that is what `model(x)` in PyTorch runs:
channels-first inside the mixer, the causal short filter as a grouped
Conv1d, the implicit filter MLP evaluated on every forward, the long
convolution through torch.fft.rfft/irfft at size 2L. Nothing is fused,
cached or compiled: this is eager PyTorch, fp32, on the CPU.

The safetensors file is parsed by hand (8-byte little-endian header size,
JSON header, raw data) into numpy arrays over a memory map; numpy and torch
are the only dependencies (Debian's python3-numpy and python3-torch).

--check-golden runs the golden checkpoints and compares hidden and logits
with the official outputs (max abs <= --tol, 2e-4); --expect does the same
against any .npy, which is how bench/run holds this script and a hyenac
binary to each other before timing either. --bench prints one line:
`median_ms=... min_ms=... reps=... threads=...`. --compile times the
forward through torch.compile (PyTorch 2; the warm-up forwards compile
it and are not timed) instead of eager.

--device cuda runs it on the GPU (weights and tokens on the device, fp32
with TF32 off for matmuls and convolutions, so it computes what the CPU
does); --bench then times each forward between torch.cuda.synchronize()
calls, its outputs left on the device, and adds `peak_mib=...`:
torch.cuda.max_memory_allocated over the timed forwards.

--bf16 (with --device cuda and --bench) times the forward under
torch.autocast to bfloat16, the way PyTorch users run a model in bf16:
the projections and the filter MLP's linears on bf16 tensor cores, the
LayerNorms and the residual stream in fp32, and the long convolution's
FFTs in fp32 (torch.fft takes no bf16; the official fftconv casts its
input to the filter's dtype for the same reason).
"""
import argparse
import json
import math
import os
import struct
import sys
import time



def _threads_from_argv(argv):
    """--threads N, read before numpy and torch load: OpenBLAS (torch's BLAS
    on Debian, through libblas.so.3) sizes its pool from the environment
    when it loads, and torch.set_num_threads() alone does not shrink it."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads_from_argv(sys.argv[1:])
# libgomp's default is to spin while it waits for work. On a machine whose
# cores are shared with other processes the spinning threads burn the
# time slices the working ones need: on the 2-core benchmark machine,
# 2-thread forwards took 20x longer than 1-thread ones. Passive waiting
# keeps PyTorch's multi-threaded figures sane there; set the variable to
# override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402 (after the thread environment is set)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "shared", "golden")

# ---- checkpoint ----------------------------------------------------------

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8",
           "I32": "<i4"}


def read_safetensors(path):
    """name -> float32 numpy array. Checks what the format requires: the
    header fits the file, offsets are in order, in bounds and match the
    shapes."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("%s: shorter than the 8-byte header size" % path)
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError("%s: header of %d bytes exceeds the file"
                             % (path, n))
        header = json.loads(f.read(n).decode("utf-8"))
    base = 8 + n
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError("%s: tensor %s has dtype %s, not supported"
                             % (path, name, info["dtype"]))
        lo, hi = info["data_offsets"]
        shape = tuple(info["shape"])
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize
        if not (0 <= lo <= hi and base + hi <= size and hi - lo == want):
            raise ValueError("%s: tensor %s: bad data_offsets [%d, %d]"
                             % (path, name, lo, hi))
        a = np.frombuffer(buf, dtype=dt, count=want // np.dtype(dt).itemsize,
                          offset=base + lo).reshape(shape)
        out[name] = a.astype(np.float32)
    return out


class Config:
    """The config.json fields the forward needs, with HyenaConfig's
    defaults."""

    def __init__(self, path):
        with open(path) as f:
            c = json.load(f)
        if c.get("model_type", "hyenadna") != "hyenadna":
            raise ValueError("%s: model_type %r is not hyenadna"
                             % (path, c.get("model_type")))
        self.d_model = int(c.get("d_model", 256))
        self.d_inner = int(c.get("d_inner") or 4 * self.d_model)
        self.n_layer = int(c.get("n_layer", 12))
        self.max_seq_len = int(c.get("max_seq_len", 1024))
        self.emb_dim = int(c.get("emb_dim", 3))
        self.filter_order = int(c.get("filter_order", 64))
        self.order = int(c.get("hyena_order", 2))
        self.short_filter = int(c.get("short_filter_order", 3))
        self.num_inner_mlps = int(c.get("num_inner_mlps", 2))
        self.sin_freq = float(c.get("activation_freq", 1))
        self.vocab_size = int(c.get("vocab_size", 12))
        m = int(c.get("pad_vocab_size_multiple", 1))
        self.vocab_padded = (self.vocab_size + m - 1) // m * m
        self.eps = float(c.get("layer_norm_epsilon", 1e-5))
        # Modulation constants are not in HF configs; HyenaDNA's defaults.
        self.fast_decay_pct, self.slow_decay_pct = 0.3, 1.5
        self.decay_target, self.mod_shift = 1e-2, 0.05


# ---- the model -----------------------------------------------------------


def positional(lmax, emb_dim):
    """z [1, lmax, emb_dim] = [t, cos(f w), -sin(f w)] and t [1, lmax, 1],
    for checkpoints that do not store them."""
    i = torch.arange(lmax, dtype=torch.float64)
    t = i / (lmax - 1) if lmax > 1 else torch.zeros(lmax, dtype=torch.float64)
    bands = (emb_dim - 1) // 2
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)
    ang = (2 * math.pi * i / lmax)[:, None] * f[None, :]
    z = torch.cat([t[:, None], torch.cos(ang), -torch.sin(ang)], dim=1)
    return z[None].float(), t[None, :, None].float()


class HyenaDNA:
    """Weights as torch tensors plus the forward. Plain functions over
    tensors rather than nn.Modules: the work done per forward is the same,
    and it keeps the names the checkpoint uses."""

    def __init__(self, model_dir):
        self.cfg = c = Config(os.path.join(model_dir, "config.json"))
        raw = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v))
                  for k, v in raw.items()}
        C = c.d_model * (c.order - 1)
        z, t = positional(c.max_seq_len, c.emb_dim)
        lo = math.log(c.decay_target) / c.slow_decay_pct
        hi = math.log(c.decay_target) / c.fast_decay_pct
        deltas = torch.linspace(lo, hi, C, dtype=torch.float64).float()
        for i in range(c.n_layer):
            f = self._f(i)
            self.w.setdefault(f + "pos_emb.z", z)
            self.w.setdefault(f + "pos_emb.t", t)
            self.w.setdefault(f + "modulation.deltas", deltas.view(1, 1, C))
        self.has_head = "lm_head.weight" in self.w

    def to(self, device):
        self.w = {k: v.to(device) for k, v in self.w.items()}
        return self

    @staticmethod
    def _p(i):
        return "hyena.backbone.layers.%d." % i

    def _f(self, i):
        return self._p(i) + "mixer.filter_fn."

    def implicit_filter(self, i, L):
        """The long filters of layer i: [order-1, d_model, L]."""
        c, w, f = self.cfg, self.w, self._f(i)
        z = w[f + "pos_emb.z"][:, :L]
        t = w[f + "pos_emb.t"][:, :L]
        freq = w[f + "implicit_filter.1.freq"]  # one Sin module, shared
        h = z
        for j in range(c.num_inner_mlps + 1):
            h = F.linear(h, w[f + "implicit_filter.%d.weight" % (2 * j)],
                         w[f + "implicit_filter.%d.bias" % (2 * j)])
            h = torch.sin(freq * h)
        h = F.linear(h, w[f + "implicit_filter.%d.weight"
                          % (2 + 2 * c.num_inner_mlps)])
        decay = torch.exp(-t * w[f + "modulation.deltas"].abs())
        h = h * (decay + c.mod_shift)  # [1, L, (order-1) d_model]
        return h[0].transpose(0, 1).reshape(c.order - 1, c.d_model, L)

    @staticmethod
    def long_conv(u, k, bias):
        """Causal convolution of u [B, D, L] with k [D, L] by zero-padded
        FFTs of size 2L, plus the u * bias skip."""
        L = u.shape[-1]
        n = 2 * L
        # fp32 for the transforms under autocast (no-ops in fp32)
        kf = torch.fft.rfft(k.float(), n=n) / n
        uf = torch.fft.rfft(u.float(), n=n)
        y = torch.fft.irfft(uf * kf, n=n, norm="forward")[..., :L]
        return (y + u * bias[:, None]).to(u.dtype)

    def mixer(self, i, u):
        c, w, p = self.cfg, self.w, self._p(i) + "mixer."
        B, L, D = u.shape
        z = F.linear(u, w[p + "in_proj.weight"], w[p + "in_proj.bias"])
        z = z.transpose(1, 2)  # [B, (order+1) D, L]
        z = F.conv1d(z, w[p + "short_filter.weight"],
                     w[p + "short_filter.bias"], padding=c.short_filter - 1,
                     groups=z.shape[1])[..., :L]
        *x, v = z.split(D, dim=1)
        k = self.implicit_filter(i, L)
        bias = w[p + "filter_fn.bias"].view(c.order - 1, D)
        for o, xo in enumerate(reversed(x[1:])):
            v = self.long_conv(v * xo, k[o], bias[o])
        y = (v * x[0]).transpose(1, 2)
        return F.linear(y, w[p + "out_proj.weight"], w[p + "out_proj.bias"])

    def mlp(self, i, u):
        w, p = self.w, self._p(i) + "mlp."
        h = F.linear(u, w[p + "fc1.weight"], w[p + "fc1.bias"])
        h = F.gelu(h, approximate="tanh")
        return F.linear(h, w[p + "fc2.weight"], w[p + "fc2.bias"])

    def forward(self, tokens):
        """tokens int64 [B, L] -> (hidden [B, L, D], logits or None)."""
        c, w = self.cfg, self.w
        D = (c.d_model,)
        res = F.embedding(tokens,
                          w["hyena.backbone.embeddings.word_embeddings.weight"])
        for i in range(c.n_layer):
            p = self._p(i)
            h = F.layer_norm(res, D, w[p + "norm1.weight"], w[p + "norm1.bias"],
                             c.eps)
            res = res + self.mixer(i, h)
            h = F.layer_norm(res, D, w[p + "norm2.weight"], w[p + "norm2.bias"],
                             c.eps)
            res = res + self.mlp(i, h)
        hidden = F.layer_norm(res, D, w["hyena.backbone.ln_f.weight"],
                              w["hyena.backbone.ln_f.bias"], c.eps)
        logits = (F.linear(hidden, w["lm_head.weight"]) if self.has_head
                  else None)
        return hidden, logits


# ---- commands ------------------------------------------------------------


def load_tokens(path, model):
    t = np.load(path)
    if t.ndim != 2 or t.dtype.kind not in "iu":
        raise ValueError("%s: tokens must be an integer array [B, L]" % path)
    if t.size and (t.min() < 0 or t.max() >= model.cfg.vocab_size):
        raise ValueError("%s: token ids must lie in [0, %d)"
                         % (path, model.cfg.vocab_size))
    if t.shape[1] > model.cfg.max_seq_len:
        raise ValueError("%s: length %d exceeds max_seq_len %d"
                         % (path, t.shape[1], model.cfg.max_seq_len))
    return torch.from_numpy(t.astype(np.int64))


def max_abs(a, b):
    if a.shape != b.shape:
        raise ValueError("shapes differ: %s vs %s" % (a.shape, b.shape))
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check_golden(dirs, tol):
    ok = True
    for d in dirs:
        m = HyenaDNA(d)
        tok = load_tokens(os.path.join(d, "tokens.npy"), m)
        with torch.inference_mode():
            hid, lg = m.forward(tok)
        for name, got in (("hidden", hid), ("logits", lg)):
            path = os.path.join(d, name + ".npy")
            if got is None or not os.path.exists(path):
                continue
            err = max_abs(got.numpy(), np.load(path))
            good = err <= tol
            ok &= good
            print("golden %s %s: max_abs_diff=%.3g %s"
                  % (os.path.basename(os.path.normpath(d)), name, err,
                     "ok" if good else "FAIL (tol %g)" % tol))
    return ok


def bench(m, B, L, threads, reps, warmup, compiled=False, device="cpu",
          bf16=False):
    torch.set_num_threads(threads)
    g = np.random.default_rng(0)
    tok = torch.from_numpy(g.integers(7, 11, size=(B, L)).astype(np.int64))
    cuda = device == "cuda"
    tok = tok.to(device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    fwd = m.forward
    if bf16:
        def fwd(tokens):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return m.forward(tokens)
    if compiled:
        if not hasattr(torch, "compile"):
            raise ValueError("--compile: torch %s has no torch.compile"
                             % torch.__version__)
        fwd = torch.compile(fwd)
        warmup = max(warmup, 2)
    ms = []
    with torch.inference_mode():
        for _ in range(warmup):
            fwd(tok)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for _ in range(reps):
            sync()
            t0 = time.perf_counter()
            out = fwd(tok)
            sync()
            ms.append((time.perf_counter() - t0) * 1e3)
            del out
    ms.sort()
    med = (ms[reps // 2] if reps % 2
           else 0.5 * (ms[reps // 2 - 1] + ms[reps // 2]))
    extra = ""
    if cuda:
        extra = " device=%s peak_mib=%.1f" % (
            torch.cuda.get_device_name().replace(" ", "_"),
            torch.cuda.max_memory_allocated() / 1048576.0)
    print("median_ms=%.3f min_ms=%.3f reps=%d threads=%d torch=%s mode=%s "
          "precision=%s%s"
          % (med, ms[0], reps, torch.get_num_threads(), torch.__version__,
             "compile" if compiled else "eager", "bf16" if bf16 else "fp32",
             extra))


def main():
    ap = argparse.ArgumentParser(
        description="HyenaDNA inference in PyTorch eager (hyenac's "
        "benchmark baseline)")
    ap.add_argument("model", nargs="?", help="HF-layout checkpoint directory")
    ap.add_argument("--check-golden", nargs="*", metavar="DIR",
                    help="compare with golden outputs (default: "
                    "../shared/golden/{tiny-1k,odd-order3})")
    ap.add_argument("--tokens", help=".npy token ids [B, L]")
    ap.add_argument("-o", "--output", help="write hidden [B, L, D] here")
    ap.add_argument("--expect", help="compare hidden with this .npy")
    ap.add_argument("--tol", type=float, default=2e-4)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--compile", action="store_true",
                    help="--bench through torch.compile")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="run on the CPU or the GPU (fp32, TF32 off)")
    ap.add_argument("--bf16", action="store_true",
                    help="--bench under torch.autocast to bfloat16 "
                    "(--device cuda)")
    a = ap.parse_args()
    if a.bf16 and not (a.bench and a.device == "cuda"):
        ap.error("--bf16 needs --bench and --device cuda")

    if a.check_golden is not None:
        dirs = a.check_golden or [os.path.join(GOLDEN, n)
                                  for n in ("tiny-1k", "odd-order3")]
        return 0 if check_golden(dirs, a.tol) else 1
    if not a.model:
        ap.error("MODEL is needed unless --check-golden")
    m = HyenaDNA(a.model)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: torch %s sees no CUDA device"
                             % torch.__version__)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        m.to("cuda")
    if a.bench:
        L = a.seq_len or m.cfg.max_seq_len
        if not (1 <= L <= m.cfg.max_seq_len) or a.batch < 1 or a.reps < 1:
            ap.error("need 1 <= --seq-len <= %d, --batch >= 1, --reps >= 1"
                     % m.cfg.max_seq_len)
        bench(m, a.batch, L, a.threads, a.reps, a.warmup, a.compile,
              a.device, a.bf16)
        return 0
    if not a.tokens:
        ap.error("--tokens is needed (or --bench, or --check-golden)")
    torch.set_num_threads(a.threads)
    tok = load_tokens(a.tokens, m).to(a.device)
    with torch.inference_mode():
        hid, _ = m.forward(tok)
    hid = hid.cpu().numpy()
    if a.output:
        np.save(a.output, hid)
    if a.expect:
        err = max_abs(hid, np.load(a.expect))
        good = err <= a.tol
        print("max_abs_diff=%.3g %s" % (err, "ok" if good
                                          else "FAIL (tol %g)" % a.tol))
        return 0 if good else 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError) as e:
        print("torch_hyenadna.py: %s" % e, file=sys.stderr)
        sys.exit(1)
