"""The HyenaDNA tokenizer, as HuggingFace's CharacterTokenizer of the
LongSafari checkpoints (tokenization_hyena.py) tokenizes a string:

* vocabulary: [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5
  [UNK]=6, then the characters A=7 C=8 G=9 T=10 N=11;
* every character is one token (``list(text)``), case-sensitive: anything
  else, lowercase acgtn included, is [UNK];
* the special tokens' own spellings inside the text ([CLS], [SEP], [BOS],
  [MASK], [PAD], [UNK]; not [RESERVED], which is no special token) are
  one token each, and whitespace just before [MASK] is dropped (its
  AddedToken has lstrip=True), as the HF tokenizer's split on added
  tokens does;
* ``add_special_tokens`` (the default) appends [SEP] and nothing else: no
  [CLS] in front (build_inputs_with_special_tokens).

A ``str`` is read by characters (code points), as HF reads it; ``bytes``
by bytes, as the model binaries and the C library's hyenac_tokenize read
a file: a non-ASCII character is one [UNK] from a str and one [UNK] per
UTF-8 byte from bytes. That is the one difference between the two.
``case="upper"`` reads soft-masked acgtn as bases (the binary's
``--case upper``); HF has no such option.
"""

import re

import numpy as np

SEP, PAD, UNK = 1, 4, 6
SPECIAL = {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4,
           "[UNK]": 6}
_SPLIT = re.compile(r"(\[CLS\]|\[SEP\]|\[BOS\]|\[MASK\]|\[PAD\]|\[UNK\])")

_STRICT = np.full(256, UNK, np.int32)
for _i, _c in enumerate("ACGTN"):
    _STRICT[ord(_c)] = 7 + _i
_UPPER = _STRICT.copy()
for _i, _c in enumerate("acgtn"):
    _UPPER[ord(_c)] = 7 + _i


def _chars(text, table):
    """Token ids of text with no special-token spelling in it."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return table[np.frombuffer(text, np.uint8)]
    if text.isascii():
        return table[np.frombuffer(text.encode("ascii"), np.uint8)]
    cp = np.frombuffer(text.encode("utf-32-le"), "<u4")
    ids = np.full(cp.shape, UNK, np.int32)
    ascii_ = cp < 128
    ids[ascii_] = table[cp[ascii_]]
    return ids


def tokenize(seq, add_special_tokens=True, case="strict"):
    """Token ids (int32, 1-D) of one sequence, as HF's
    ``tokenizer(seq)["input_ids"]`` gives them."""
    if case not in ("strict", "upper"):
        raise ValueError(f"case must be 'strict' or 'upper', not {case!r}")
    if not isinstance(seq, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"tokenize takes a str or bytes, not "
                        f"{type(seq).__name__}")
    table = _STRICT if case == "strict" else _UPPER
    if isinstance(seq, str) and "[" in seq:
        parts = _SPLIT.split(seq)
        pieces = []
        for k, part in enumerate(parts):
            if k % 2:
                pieces.append(np.array([SPECIAL[part]], np.int32))
                continue
            if k + 1 < len(parts) and parts[k + 1] == "[MASK]":
                part = part.rstrip()
            pieces.append(_chars(part, table))
        ids = np.concatenate(pieces) if pieces else np.empty(0, np.int32)
    else:
        ids = _chars(seq, table)
    if add_special_tokens:
        ids = np.append(ids, np.int32(SEP))
    return np.ascontiguousarray(ids, np.int32)
