"""hyenac: HyenaDNA models compiled by hyenac, from Python.

    import hyenac
    model = hyenac.from_pretrained("hyenadna-tiny-1k-seqlen-hf")
    X = model.embed(["ACGTACGT", "GATTACA"], pool="mean")   # [2, d_model]
    ll = model.score("ACGTTGCA")                            # [1] float64
    seqs = model.generate("ACGT", max_new=50, seed=1)       # [str]

Pure Python over the shared library that `hyenac compile --emit lib`
makes, through ctypes; NumPy is the one requirement. from_pretrained
compiles a checkpoint once into a cache ($HYENAC_CACHE or
~/.cache/hyenac) with the hyenac found through $HYENAC or PATH; load
opens a library compiled elsewhere. Errors raise HyenacError with the
library's or the compiler's one-line message.
"""

from ._cache import cache_dir, find_hyenac, from_pretrained, load
from ._model import Classification, HyenacError, Model, Window
from ._tokenize import tokenize

__version__ = "0.1"
__all__ = ["from_pretrained", "load", "tokenize", "Model", "HyenacError",
           "Classification", "Window", "cache_dir", "find_hyenac"]
