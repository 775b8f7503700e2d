# tests/gpu/contract.py - the checks of tests/gpu/device-tests.sh that
# need more than a max abs difference: the `--precision bf16` accuracy
# contract of issue 15 (the CPU's, tests/test_bf16.c) applied to a GPU
# binary's outputs against fp32 ones (the golden files or the CPU
# binary's), and the fp32 checks: max abs differences, also of outputs
# kept only in part (every k-th position of a 32k window), and score
# tables.
#
#   contract.py hidden NAME GOT WANT [ROWS]   bf16 hidden states: relative
#       Frobenius error <= 1e-2 and cosine similarity >= 0.999 at every
#       position (ROWS: an .npy of the positions WANT holds of GOT's)
#   contract.py top1 NAME GOT WANT VOCAB      the argmax over the first
#       VOCAB logits the same at >= 99% of positions
#   contract.py score NAME GOT WANT TOL       score tables: the same
#       windows, each sum_logp within TOL relative
#   contract.py close NAME GOT WANT [ROWS]    fp32: max abs difference
#       within 2e-4 x max(1, max |WANT|) (against the CPU binary)
#   contract.py abs NAME GOT WANT             fp32: max abs difference
#       within 2e-4 (against the golden outputs)
#
# One line per check, "ok  " or "FAIL" then the figures; exit 0 when the
# check passes, 1 when it fails (bad shapes, a missing or unreadable file,
# a non-finite value count as failures, with their own line).
import sys

import numpy as np

REL, COS, TOP1 = 1e-2, 0.999, 0.99


def say(ok, name, text):
    print("%s %s: %s" % ("ok  " if ok else "FAIL", name, text))
    sys.exit(0 if ok else 1)


def load(name, path):
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        say(False, name, "cannot read %s (%s)" % (path, e))


def pick(name, got, want, rows):
    """got's positions that want holds: all, or those rows names (axis 1)."""
    if rows is not None:
        idx = load(name, rows)
        if got.ndim != 3 or idx.ndim != 1 or idx.size == 0 or \
           idx.min() < 0 or idx.max() >= got.shape[1]:
            say(False, name, "rows %s do not index shape %s" %
                (rows, got.shape))
        got = got[:, idx, :]
    if got.shape != want.shape:
        say(False, name, "shape %s, want %s" % (got.shape, want.shape))
    if not np.isfinite(got).all():
        say(False, name, "non-finite values")
    return got.astype(np.float64), want.astype(np.float64)


def hidden(name, got, want, rows=None):
    a, b = pick(name, load(name, got), load(name, want), rows)
    rel = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a2 * b2).sum(1) / np.sqrt((a2 * a2).sum(1) * (b2 * b2).sum(1))
    worst = float(np.nanmin(cos)) if not np.isnan(cos).any() else float("nan")
    ok = rel <= REL and worst >= COS
    say(ok, name, "hidden rel err %.3g (<= %g), min cosine %.6f (>= %g) "
        "over %d positions" % (rel, REL, worst, COS, a2.shape[0]))


def top1(name, got, want, vocab):
    a, b = pick(name, load(name, got), load(name, want), None)
    v = int(vocab)
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    if v < 1 or v > a2.shape[1]:
        say(False, name, "vocabulary %d, logits %d wide" % (v, a2.shape[1]))
    same = float(np.mean(np.argmax(a2[:, :v], 1) == np.argmax(b2[:, :v], 1)))
    say(same >= TOP1, name, "top-1 next token the same at %.2f%% of %d "
        "positions (>= %g%%)" % (100 * same, a2.shape[0], 100 * TOP1))


def table(name, path):
    try:
        with open(path) as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
    except OSError as e:
        say(False, name, "cannot read %s (%s)" % (path, e))
    if not rows or rows[0][:5] != ["record", "start", "end", "tokens",
                                   "sum_logp"]:
        say(False, name, "%s is not a score table" % path)
    try:
        return [(r[0], r[1], r[2], r[3]) for r in rows[1:]], \
            np.array([float(r[4]) for r in rows[1:]])
    except (IndexError, ValueError):
        say(False, name, "%s has a malformed row" % path)


def score(name, got, want, tol):
    kg, sg = table(name, got)
    kw, sw = table(name, want)
    if kg != kw or not kw:
        say(False, name, "windows differ (%d rows, want %d)" %
            (len(kg), len(kw)))
    if not np.isfinite(sg).all():
        say(False, name, "non-finite sum_logp")
    rel = np.abs(sg - sw) / np.abs(sw)
    worst = float(rel.max())
    say(worst <= float(tol), name, "score sum_logp worst rel err %.3g "
        "(<= %g) over %d windows" % (worst, float(tol), len(kw)))


def close(name, got, want, rows=None, scaled=True):
    a, b = pick(name, load(name, got), load(name, want), rows)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    tol = 2e-4
    if scaled:
        tol *= max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    say(err <= tol, name, "max abs diff %.3g (tolerance %.3g)" % (err, tol))


def absolute(name, got, want):
    close(name, got, want, None, False)


def main(argv):
    cmds = {"hidden": (hidden, 3, 4), "top1": (top1, 4, 4),
            "score": (score, 4, 4), "close": (close, 3, 4),
            "abs": (absolute, 3, 3)}
    if len(argv) < 2 or argv[1] not in cmds or \
       not cmds[argv[1]][1] <= len(argv) - 2 <= cmds[argv[1]][2]:
        print("usage: contract.py hidden|top1|score|close|abs NAME ...",
              file=sys.stderr)
        sys.exit(2)
    cmds[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
