"""from_pretrained: compile a checkpoint with the installed hyenac into a
cache, once, and load the library.

The compiler: $HYENAC, else `hyenac` on PATH. The cache: $HYENAC_CACHE,
else ~/.cache/hyenac; one folder per key holding libmodel.so (with
hyenac_model.h and info.json beside it). The key is a sha256 over
* the checkpoint's contents: an HF folder's config.json, every *.json and
  *.safetensors in it; a YAML file and the safetensors file its
  `weights: {safetensors: PATH}` names;
* the flags (seq_len, precision, target);
* `hyenac --version` (version, LLVM, host CPU: code is compiled for this
  machine's CPU) and the compiler file's size and mtime, so a rebuilt
  compiler of the same version does not reuse old code.
Hashing a checkpoint once per change: each file's sha256 is remembered
under hashes/ with the file's size, mtime and inode, so a hit costs a
stat() per file.

Concurrency: a hit is a folder that exists, and folders appear whole: a
miss takes an flock on KEY.lock, looks again (another process may have
compiled it meanwhile), compiles into a temporary folder beside the
final one and renames it into place. Two processes never compile the same
key at once, and no reader sees half a library. A process killed while
compiling leaves a temporary folder that the next compile of that key
removes (under the lock).
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

from ._model import HyenacError, Model

_LIB = "libmodel.so"


def find_hyenac():
    """The compiler's path: $HYENAC, else `hyenac` on PATH."""
    p = os.environ.get("HYENAC")
    if p:
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            raise HyenacError(f"HYENAC={p}: not an executable file")
        return os.path.abspath(p)
    p = shutil.which("hyenac")
    if not p:
        raise HyenacError("cannot find the hyenac compiler: put it on PATH "
                          "or set HYENAC to its path")
    return os.path.abspath(p)


def cache_dir():
    d = os.environ.get("HYENAC_CACHE")
    if d:
        return os.path.abspath(d)
    return os.path.join(os.path.expanduser("~"), ".cache", "hyenac")


_version_memo = {}


def hyenac_version(exe):
    st = os.stat(exe)
    memo = (exe, st.st_size, st.st_mtime_ns)
    if memo not in _version_memo:
        r = subprocess.run([exe, "--version"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise HyenacError(f"{exe} --version failed: "
                              f"{(r.stderr or r.stdout).strip()}",
                              r.returncode)
        _version_memo[memo] = r.stdout.strip()
    return _version_memo[memo]


def _inputs(path):
    """The files whose contents the compiled library depends on."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path)
                       if n.endswith((".json", ".safetensors")))
        files = [os.path.join(path, n) for n in names]
        return [f for f in files if os.path.isfile(f)]
    if not os.path.isfile(path):
        raise HyenacError(f"{path}: no such checkpoint (give an HF "
                          f"HyenaDNA folder or a hyenac YAML file)")
    files = [path]
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    for m in re.finditer(r"safetensors\s*:\s*['\"]?([^\s'\"},]+)", text):
        w = os.path.join(os.path.dirname(path), m.group(1))
        if os.path.isfile(w):
            files.append(w)
    return files


def _file_hash(path, cache):
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]
    real = os.path.realpath(path)
    memo = os.path.join(cache, "hashes",
                        hashlib.sha256(real.encode()).hexdigest() + ".json")
    try:
        with open(memo) as f:
            m = json.load(f)
        if m.get("stamp") == stamp and m.get("path") == real:
            return m["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    try:
        os.makedirs(os.path.dirname(memo), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(memo), prefix=".h")
        with os.fdopen(fd, "w") as f:
            json.dump({"path": real, "stamp": stamp, "sha256": digest}, f)
        os.replace(tmp, memo)
    except OSError:
        pass  # only a memo
    return digest


def _flags(seq_len, precision, target):
    flags = []
    if seq_len is not None:
        if not isinstance(seq_len, int) or isinstance(seq_len, bool) or \
                seq_len < 1:
            raise ValueError(f"seq_len must be a positive int, not "
                             f"{seq_len!r}")
        flags += ["--seq-len", str(seq_len)]
    if precision != "fp32":
        flags += ["--precision", str(precision)]
    if target != "cpu":
        flags += ["--target", str(target)]
    return flags


def cache_key(path, flags, exe, cache):
    st = os.stat(exe)
    h = hashlib.sha256()
    h.update(json.dumps({
        "hyenac": hyenac_version(exe),
        "compiler": [os.path.realpath(exe), st.st_size, st.st_mtime_ns],
        "flags": flags,
        "files": [[os.path.relpath(f, path) if os.path.isdir(path)
                   else os.path.basename(f), _file_hash(f, cache)]
                  for f in _inputs(path)],
    }, sort_keys=True).encode())
    return h.hexdigest()[:32]


def compiled_library(path, seq_len=None, precision="fp32", target="cpu"):
    """The cached library of the checkpoint at path, compiled if
    missing; its path."""
    path = os.path.abspath(os.fspath(path))
    flags = _flags(seq_len, precision, target)
    exe = find_hyenac()
    cache = cache_dir()
    os.makedirs(cache, exist_ok=True)
    key = cache_key(path, flags, exe, cache)
    final = os.path.join(cache, key)
    lib = os.path.join(final, _LIB)
    if os.path.isfile(lib):
        return lib
    with open(os.path.join(cache, key + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(lib):
            return lib
        for stale in os.listdir(cache):
            if stale.startswith(f".{key}.tmp."):
                shutil.rmtree(os.path.join(cache, stale), ignore_errors=True)
        tmp = tempfile.mkdtemp(dir=cache, prefix=f".{key}.tmp.")
        try:
            cmd = [exe, "compile", path, "-o", os.path.join(tmp, _LIB),
                   "--emit", "lib"] + flags
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                lines = (r.stderr or r.stdout).strip().splitlines()
                raise HyenacError(lines[-1] if lines else
                                  f"hyenac compile failed (status "
                                  f"{r.returncode})", r.returncode)
            with open(os.path.join(tmp, "info.json"), "w") as f:
                json.dump({"checkpoint": path, "flags": flags,
                           "hyenac": hyenac_version(exe)}, f, indent=1)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return lib


def from_pretrained(path, seq_len=None, precision="fp32", target="cpu",
                    threads=None):
    """Compile the checkpoint at path (an HF HyenaDNA folder or a hyenac
    YAML file) with the installed hyenac, into the cache, unless it is
    there already; return the loaded Model. seq_len: the longest input
    (default: the checkpoint's max_seq_len); threads: the forward's
    threads (None: every core)."""
    return Model(compiled_library(path, seq_len, precision, target),
                 threads=threads)


def load(path, threads=None):
    """A library compiled elsewhere (``hyenac compile M -o libM.so --emit
    lib``)."""
    return Model(path, threads=threads)
