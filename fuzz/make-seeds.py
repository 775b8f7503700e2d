#!/usr/bin/env python3
"""Regenerate the hand-made and derived seeds in fuzz/corpus/.

Run from the repository root: python3 fuzz/make-seeds.py. Reads models/,
examples/, tests/ir/, ../shared/golden/ and build/hyenac (for printed IR,
when it exists); writes only under fuzz/corpus/. Seeds are kept small
(the whole corpus stays well under 1 MB).
"""
import glob, gzip, io, json, os, shutil, struct, subprocess

C = "fuzz/corpus"
G = "../shared/golden"


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(C, target, name), "wb") as f:
        f.write(data)


# ---- yaml -----------------------------------------------------------------
for p in sorted(glob.glob("models/*.yaml")):
    shutil.copy(p, os.path.join(C, "yaml", os.path.basename(p)))
put("yaml", "min.yaml", "d_model: 8\nn_layer: 1\nmax_seq_len: 16\nweights: {seed: 1}\n")
put("yaml", "flow.yaml", "{d_model: 8, n_layer: 1, max_seq_len: 16, weights: {safetensors: m.safetensors}, head: none}\n")
put("yaml", "anchor.yaml", "d_model: &x 8\nn_layer: *x\nmax_seq_len: 16\nweights: {seed: 1}\n")
put("yaml", "tag.yaml", "d_model: !!int 8\nn_layer: 1\nmax_seq_len: 16\nweights: {seed: 1}\n---\n")
put("yaml", "huge.yaml", "d_model: 9223372036854775807\nn_layer: 99999999999999999999\nmax_seq_len: -1\nnorm_eps: .nan\nweights: {seed: 18446744073709551616}\n")
put("yaml", "full.yaml", """name: "x"
d_model: 16
n_layer: 2
max_seq_len: 64
norm_eps: 1e-5
vocab: {size: 12, pad_multiple: 8}
mlp: {d_inner: 32, activation: relu}
hyena:
  order: 3
  short_filter: 3
  filter:
    emb_dim: 5
    order: 16
    inner_mlps: 2
    sin_freq: 1.0
    modulation: {fast_decay_pct: 0.3, slow_decay_pct: 1.5, target: 0.01, shift: 0.0, enabled: true}
head: lm
weights: {seed: 0x10}
""")

# ---- hf_config ------------------------------------------------------------
for c in ("tiny-1k", "odd-order3", "tiny-1k-cls"):
    shutil.copy(f"{G}/{c}/config.json", os.path.join(C, "hf_config", c + ".json"))
with open(f"{G}/tiny-1k-cls/config.json") as f:
    put("hf_config", "cls-dup-label.json",
        f.read().replace('"1": "class_1"', '"1": "class_0"'))
put("hf_config", "empty-object.json", "{}")
put("hf_config", "array.json", "[1, 2.5e3, -0, true, null, \"\\u00e9\\n\"]")
put("hf_config", "dup.json", '{"d_model": 128, "d_model": 256}')
put("hf_config", "deep.json", "[" * 70 + "]" * 70)
put("hf_config", "numbers.json", '{"d_model": 1e400, "n_layer": 9223372036854775808, "layer_norm_epsilon": -1e-320}')

# ---- safetensors ----------------------------------------------------------
def st_bytes(entries, meta=None, pad_to=8):
    """entries: list of (name, dtype, shape, nbytes-of-data)."""
    hdr, off, data = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, nb in entries:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
        data += b"\x00" * nb
        off += nb
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % pad_to)
    return struct.pack("<Q", len(h)) + h + data


for c in ("tiny-1k", "odd-order3"):
    raw = open(f"{G}/{c}/model.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    put("safetensors", c + "-truncated.safetensors", raw[: 8 + n + 64])
    hdr = json.loads(raw[8 : 8 + n])
    ents = []
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        shape = [min(d, 2) for d in v["shape"]]
        nb = 4
        for d in shape:
            nb *= d
        ents.append((k, "F32", shape, nb))
    put("safetensors", c + "-shrunk.safetensors", st_bytes(ents, hdr.get("__metadata__")))
put("safetensors", "one.safetensors", st_bytes([("w", "F32", [2, 3], 24)]))
put("safetensors", "meta.safetensors", st_bytes([("a", "F32", [], 4), ("b", "F32", [0], 0)], {"format": "pt"}))
put("safetensors", "empty.safetensors", st_bytes([]))
put("safetensors", "f16.safetensors", st_bytes([("h", "F16", [4], 8)]))
put("safetensors", "gap.safetensors", struct.pack("<Q", 64) + b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'.ljust(64) + b"\0" * 8)
put("safetensors", "hugelen.safetensors", struct.pack("<Q", 2**63) + b"{}")

# ---- npy ------------------------------------------------------------------
shutil.copy(f"{G}/tiny-1k/tokens.npy", os.path.join(C, "npy", "golden-tokens.npy"))
shutil.copy("examples/example-tokens.npy", os.path.join(C, "npy", "example-tokens.npy"))


def npy(descr, shape, body, ver=(1, 0), fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(" + "".join("%d," % s for s in shape) + ")" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")")
    lenfmt = "<H" if ver[0] == 1 else "<I"
    pre = 6 + 2 + struct.calcsize(lenfmt)
    total = pre + len(d) + 1
    d += " " * (-total % 64) + "\n"
    return b"\x93NUMPY" + bytes(ver) + struct.pack(lenfmt, len(d)) + d.encode() + body


put("npy", "f4.npy", npy("<f4", (2, 3), struct.pack("<6f", *range(6))))
put("npy", "f8.npy", npy("<f8", (3,), struct.pack("<3d", 1, 2, 3)))
put("npy", "i8.npy", npy("<i8", (1, 4), struct.pack("<4q", 7, 8, 9, 10)))
put("npy", "u1.npy", npy("|u1", (4,), bytes([7, 8, 9, 10])))
put("npy", "i2-v2.npy", npy("<i2", (2, 2), struct.pack("<4h", 1, 2, 3, 4), ver=(2, 0)))
put("npy", "u4-v3.npy", npy("<u4", (), struct.pack("<I", 5), ver=(3, 0)))
put("npy", "be.npy", npy(">i4", (2,), struct.pack(">2i", 1, 2)))
put("npy", "fortran.npy", npy("<i4", (2, 2), struct.pack("<4i", 1, 2, 3, 4), fortran=True))
put("npy", "zero.npy", npy("<i4", (0, 5), b""))
put("npy", "rank5.npy", npy("<i4", (1, 1, 1, 1, 1), struct.pack("<i", 1)))
put("npy", "huge.npy", npy("<i4", (2**62, 2**62), b""))
put("npy", "truncated.npy", npy("<f4", (100,), b"\0" * 12))

# ---- fasta (3 option bytes, then the file) --------------------------------
fa = open("examples/example.fa", "rb").read()
put("fasta", "example", b"\x10\x00\x00" + fa)
put("fasta", "example-stride", b"\x07\x03\x03" + fa)
put("fasta", "example-gz", b"\x20\x30\x02" + gzip.compress(fa, mtime=0))
put("fasta", "crlf-lower", b"\x05\x00\x01>r1 desc\r\nacgtn\r\nRYKM\r\n\r\n>r2\r\n>\r\nNNNN ACGT\tacgt\r\n")
put("fasta", "headless", b"\x04\x00\x00ACGT\n>x\nA\n")
put("fasta", "nul", b"\x04\x00\x00>x\nAC\0GT\n")
put("fasta", "empty-records", b"\x01\x00\x02>a\n>b\n>c\nA\n>d")
put("fasta", "gz-truncated", b"\x08\x00\x00" + gzip.compress(fa * 4, mtime=0)[:60])
gz = lambda b: gzip.compress(b, mtime=0)
put("fasta", "gz-members", b"\x10\x00\x00" + gz(b">a\nACGT\n") + gz(b"") + gz(b">b\nGGN\n"))
put("fasta", "gz-trailing-text", b"\x10\x00\x00" + gz(b">a\nACGT\n") + b">b\nGGN\n")
put("fasta", "gz-trailing-garbage", b"\x10\x00\x00" + gz(b">a\nACGT\n") + b"\x1f\x9d\x90\x3e\xff\x00")
put("fasta", "gz-zero-padding", b"\x10\x00\x00" + gz(b">a\nACGT\n") + b"\0" * 512)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
put("fasta", "bgzf-eof", b"\x10\x00\x00" + gz(b">a\nACGT\n") + BGZF_EOF)

# ---- gzip (3 option bytes, then parts: kind, length, payload) -------------
# kind % 4: 0 member (level (kind >> 2) % 10, bgzip header if kind & 0x80),
# 1 raw bytes, 2 member cut short by (kind >> 2) % (size - 1) + 1 bytes,
# 3 member with byte (kind >> 2) % size flipped; see fuzz/fuzz_gzip.c.
def part(kind, payload):
    assert len(payload) < 256
    return bytes([kind, len(payload)]) + payload
def member(payload, level=6, bgzf=False):
    return part((level << 2) | (0x80 if bgzf else 0), payload)
def raw(payload):
    return part(1, payload)
recs = [b">a desc\nACGTN\nacgt\n", b">b\nGGGG\r\nNNRY\n", b">c\n>d\nTTTT"]
put("gzip", "members", b"\x04\x00\x02" + b"".join(member(r) for r in recs))
put("gzip", "members-empty", b"\x03\x01\x03" + member(b"") + member(recs[0]) + member(b"") + member(b"") + member(recs[1]) + member(b""))
put("gzip", "members-split-record", b"\x05\x00\x00" + member(b">a\nAC") + member(b"GT\nNN") + member(b"\n>b\nA\n", 0))
put("gzip", "bgzip", b"\x08\x00\x02" + member(recs[0], 5, True) + member(recs[1], 5, True) + raw(BGZF_EOF))
put("gzip", "trailing-text", b"\x04\x00\x02" + member(recs[0]) + raw(b">x\nACGT\n"))
put("gzip", "trailing-garbage", b"\x04\x00\x02" + member(recs[0]) + member(recs[1]) + raw(b"\x1f\x9d\x90\xde\xad\xbe\xef"))
put("gzip", "trailing-zeros", b"\x04\x00\x02" + member(recs[0]) + raw(b"\0" * 64))
put("gzip", "trailing-magic-byte", b"\x04\x00\x02" + member(recs[0]) + raw(b"\x1f"))
put("gzip", "truncated", b"\x04\x00\x02" + member(recs[0]) + part(2 | (5 << 2), recs[1]))
put("gzip", "damaged", b"\x04\x00\x02" + member(recs[0]) + part(3 | (30 << 2), recs[1]) + member(recs[2]))

# ---- ir -------------------------------------------------------------------
for p in sorted(glob.glob("tests/ir/*.ir")):
    shutil.copy(p, os.path.join(C, "ir", os.path.basename(p)))
if os.path.exists("build/hyenac"):
    for m in ("hyenadna-tiny-1k",):
        out = subprocess.run(["build/hyenac", "ir", f"models/{m}.yaml"], capture_output=True).stdout
        if out:
            put("ir", m + ".ir", out)
put("ir", "min.ir", 'graph "g" {\n  %t = input : i32[B,L]\n  output o = %t\n}\n')
put("ir", "escapes.ir", 'graph "a\\"b\\x01" max_len=9223372036854775807 {\n  %w = weight {name="x\\n\\t\\\\"} : f32[16,4]\n  %t = input : i32[B,L]\n  %e = embed %w, %t : f32[B,L,4]\n  output hidden = %e\n}\n')
