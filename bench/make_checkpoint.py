#!/usr/bin/env python3
"""
make_checkpoint.py - write a HuggingFace-layout HyenaDNA checkpoint directory
(config.json + model.safetensors) with seeded random weights, for the
benchmark.

    bench/make_checkpoint.py models/hyenadna-small-32k.yaml OUTDIR [--seed S]

The shape comes from one of our YAML descriptions (models/*.yaml), so the
benchmark runs the released shapes with no download. The directory is then
the single input of both sides of the benchmark: `hyenac compile OUTDIR` and
`bench/torch_hyenadna.py OUTDIR` read the same bytes. (hyenac has no command
that exports the weights it draws for a `weights: {seed: N}` description,
hence this file.)

Tensor names and shapes are those of frontend/weights.c
(fe_expected_weights), which are the HF ones, including the buffers HF
checkpoints store: pos_emb.z, pos_emb.t and modulation.deltas. Values follow
HyenaDNA's initialisation (Linear and embedding N(0, 0.02), out_proj/fc2
scaled by 1/sqrt(2 n_layer), LayerNorm 1/0, Conv1d uniform, filter bias
N(0, 1)) and are then nudged (gains, biases, frequencies) so that every
tensor moves the output and the equality check between the two
implementations means something. It uses numpy only; the safetensors file is
written by hand (8-byte little-endian header length, JSON header, raw
little-endian float32 data).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

try:
    import yaml
except ImportError:  # python3-yaml; bench/run installs it
    yaml = None


def read_spec(path):
    """The fields of a models/*.yaml description that shape the weights."""
    if yaml is None:
        sys.exit("make_checkpoint.py: needs python3-yaml to read %s" % path)
    with open(path) as f:
        y = yaml.safe_load(f)
    vocab = y.get("vocab", {}) or {}
    mlp = y.get("mlp", {}) or {}
    hy = y.get("hyena", {}) or {}
    filt = hy.get("filter", {}) or {}
    mod = filt.get("modulation", {}) or {}
    d = int(y["d_model"])
    if mlp.get("activation", "gelu_tanh") != "gelu_tanh":
        sys.exit("make_checkpoint.py: %s: HF HyenaDNA checkpoints only "
                 "have gelu_tanh MLPs" % path)
    if mod.get("enabled", True) is not True:
        sys.exit("make_checkpoint.py: %s: HF HyenaDNA checkpoints always "
                 "modulate the filter" % path)
    return {
        "name": y.get("name", os.path.splitext(os.path.basename(path))[0]),
        "d_model": d,
        "n_layer": int(y["n_layer"]),
        "max_seq_len": int(y["max_seq_len"]),
        "vocab_size": int(vocab.get("size", 12)),
        "pad_vocab_size_multiple": int(vocab.get("pad_multiple", 8)),
        "d_inner": int(mlp.get("d_inner", 4 * d)),
        "hyena_order": int(hy.get("order", 2)),
        "short_filter_order": int(hy.get("short_filter", 3)),
        "emb_dim": int(filt.get("emb_dim", 5)),
        "filter_order": int(filt.get("order", 64)),
        "num_inner_mlps": int(filt.get("inner_mlps", 2)),
        "activation_freq": float(filt.get("sin_freq", 10)),
        "layer_norm_epsilon": float(y.get("norm_eps", 1e-5)),
        "fast": float(mod.get("fast_decay_pct", 0.3)),
        "slow": float(mod.get("slow_decay_pct", 1.5)),
        "target": float(mod.get("target", 1e-2)),
        "head": y.get("head", "lm") == "lm",
    }


def positional(lmax, emb_dim):
    """HyenaDNA's positional features z [1, lmax, emb_dim] and t [1, lmax, 1]."""
    i = np.arange(lmax, dtype=np.float64)
    t = i / (lmax - 1) if lmax > 1 else np.zeros(lmax)
    bands = (emb_dim - 1) // 2
    f = np.linspace(1e-4, bands - 1, bands)
    w = 2 * math.pi * i / lmax
    ang = w[:, None] * f[None, :]
    z = np.concatenate([t[:, None], np.cos(ang), -np.sin(ang)], axis=1)
    return (z[None].astype(np.float32), t[None, :, None].astype(np.float32))


def make_weights(s, seed):
    rng = np.random.default_rng(seed)
    D, L, F = s["d_model"], s["n_layer"], s["filter_order"]
    o = s["hyena_order"]
    W, C = D * (o + 1), D * (o - 1)
    m = s["pad_vocab_size_multiple"]
    Vp = (s["vocab_size"] + m - 1) // m * m
    std = 0.02
    std_out = std / math.sqrt(2 * L)

    def normal(shape, sd):
        return rng.normal(0.0, sd, size=shape)

    def near(shape, centre, sd):  # a nudged gain or bias
        return centre + rng.normal(0.0, sd, size=shape)

    z, t = positional(s["max_seq_len"], s["emb_dim"])
    lo = math.log(s["target"]) / s["slow"]
    hi = math.log(s["target"]) / s["fast"]
    deltas = np.linspace(lo, hi, C).reshape(1, 1, C)
    bb = "hyena.backbone."
    w = {bb + "embeddings.word_embeddings.weight": normal((Vp, D), std)}
    for i in range(L):
        p = "%slayers.%d." % (bb, i)
        f = p + "mixer.filter_fn."
        bound = 1.0 / math.sqrt(s["short_filter_order"])
        w[p + "mixer.in_proj.weight"] = normal((W, D), std)
        w[p + "mixer.in_proj.bias"] = normal((W,), 0.01)
        w[p + "mixer.out_proj.weight"] = normal((D, D), std_out)
        w[p + "mixer.out_proj.bias"] = normal((D,), 0.01)
        w[p + "mixer.short_filter.weight"] = rng.uniform(
            -bound, bound, size=(W, 1, s["short_filter_order"]))
        w[p + "mixer.short_filter.bias"] = rng.uniform(-bound, bound, (W,))
        w[f + "bias"] = normal((C,), 1.0)
        w[f + "pos_emb.z"] = z
        w[f + "pos_emb.t"] = t
        w[f + "implicit_filter.0.weight"] = normal((F, s["emb_dim"]), 0.3)
        w[f + "implicit_filter.0.bias"] = normal((F,), 0.1)
        w[f + "implicit_filter.1.freq"] = near((1, F), s["activation_freq"],
                                               0.5)
        for j in range(s["num_inner_mlps"]):
            w[f + "implicit_filter.%d.weight" % (2 + 2 * j)] = normal(
                (F, F), 1.0 / math.sqrt(F))
            w[f + "implicit_filter.%d.bias" % (2 + 2 * j)] = normal((F,), 0.1)
        w[f + "implicit_filter.%d.weight" % (2 + 2 * s["num_inner_mlps"])] = \
            normal((C, F), 1.0 / math.sqrt(F))
        w[f + "modulation.deltas"] = deltas
        w[p + "norm1.weight"] = near((D,), 1.0, 0.1)
        w[p + "norm1.bias"] = normal((D,), 0.05)
        w[p + "mlp.fc1.weight"] = normal((s["d_inner"], D), std)
        w[p + "mlp.fc1.bias"] = normal((s["d_inner"],), 0.01)
        w[p + "mlp.fc2.weight"] = normal((D, s["d_inner"]), std_out)
        w[p + "mlp.fc2.bias"] = normal((D,), 0.01)
        w[p + "norm2.weight"] = near((D,), 1.0, 0.1)
        w[p + "norm2.bias"] = normal((D,), 0.05)
    w[bb + "ln_f.weight"] = near((D,), 1.0, 0.1)
    w[bb + "ln_f.bias"] = normal((D,), 0.05)
    if s["head"]:
        w["lm_head.weight"] = normal((Vp, D), std)
    return {k: np.ascontiguousarray(v, dtype="<f4") for k, v in w.items()}


def write_safetensors(path, tensors):
    header, off = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # keep the data 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in tensors.values():
            f.write(a.tobytes())
    os.replace(tmp, path)


def hf_config(s):
    return {
        "architectures": ["HyenaDNAForCausalLM"],
        "model_type": "hyenadna",
        "d_model": s["d_model"], "d_inner": s["d_inner"],
        "n_layer": s["n_layer"], "max_seq_len": s["max_seq_len"],
        "emb_dim": s["emb_dim"], "filter_order": s["filter_order"],
        "hyena_order": s["hyena_order"],
        "short_filter_order": s["short_filter_order"],
        "num_inner_mlps": s["num_inner_mlps"],
        "activation_freq": s["activation_freq"], "train_freq": True,
        "use_bias": True, "vocab_size": s["vocab_size"],
        "pad_vocab_size_multiple": s["pad_vocab_size_multiple"],
        "layer_norm_epsilon": s["layer_norm_epsilon"],
        "embed_dropout": 0.1, "hyena_dropout": 0.0,
        "hyena_filter_dropout": 0.0, "initializer_range": 0.02,
        "tie_word_embeddings": False, "torch_dtype": "float32",
        "pad_token_id": 4,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("yaml", help="a models/*.yaml description (the shape)")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    s = read_spec(a.yaml)
    if not s["head"]:
        sys.exit("make_checkpoint.py: %s: the benchmark wants head: lm"
                 % a.yaml)
    os.makedirs(a.outdir, exist_ok=True)
    write_safetensors(os.path.join(a.outdir, "model.safetensors"),
                      make_weights(s, a.seed))
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(hf_config(s), f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
