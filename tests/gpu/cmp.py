# tests/gpu/device.sh's comparison: the harness's outputs (raw float32)
# against the golden arrays, to 2e-4 max abs.
import numpy as np

res = []


def f32(p, shape):
    return np.fromfile(p, dtype=np.float32).reshape(shape)


def chk(name, path, ref):
    try:
        got = f32(path, ref.shape)
    except (FileNotFoundError, ValueError) as e:
        print(f"{name}: missing ({e})")
        res.append(False)
        return
    d = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    m = float(np.max(d)) if np.isfinite(got).all() else float("nan")
    print(f"{name}: max_abs={m:.3g} ok={m <= 2e-4}")
    res.append(m <= 2e-4)


for m, nlayer in [("tiny-1k", 2), ("odd-order3", 3), ("tiny-1k-cls", 2)]:
    g = f"g_{m}/"
    h = np.load(g + "hidden.npy")
    o = f"out_{m}_"
    for pre in ["forward", "forward_c"]:
        chk(f"{m} {pre} hidden", o + pre + ".0.f32", h)
        if m != "tiny-1k-cls":
            chk(f"{m} {pre} logits", o + pre + ".1.f32",
                np.load(g + "logits.npy"))
    if m != "tiny-1k-cls":
        chk(f"{m} logits", o + "logits.0.f32", np.load(g + "logits.npy"))
    chk(f"{m} pooled mean", o + "pooled.0.f32", h.mean(1))
    chk(f"{m} pooled last", o + "pooled.1.f32", h[:, -1])
    chk(f"{m} hidden_states final", o + f"hidden_states.{nlayer + 1}.f32", h)
    if m == "tiny-1k-cls":
        chk(f"{m} classify", o + "classify.0.f32", np.load(g + "cls_logits.npy"))
print("ALL OK" if all(res) else "SOME FAILED")
