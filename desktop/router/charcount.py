"""How often each of a few dozen characters occurs in a text, all of them in one numpy pass.

The features read the counts of many single characters (maths symbols, code punctuation,
capitals) and skip the substring counts whose characters are absent; one ``str.count`` or regular
expression scan per character costs a pass over the text each.
"""

from __future__ import annotations

import numpy as np

__all__ = ["COUNTED", "UPPER", "bin_of", "char_counts"]

#: every character counted on its own (each has its bin)
COUNTED = "=+*/^<>%√∑∫π∞≤≥≠±×÷∈∀∃{}[];()_#$\\`!\n?.0123456789"
#: the bin that counts the 26 ASCII capitals together
UPPER = 1 + len(COUNTED)
_LIMIT = max(map(ord, COUNTED)) + 1  # code points from here on count as "other" (bin 0)
_BIN = np.zeros(_LIMIT + 1, dtype=np.intp)
_BIN[[ord(c) for c in COUNTED]] = np.arange(1, 1 + len(COUNTED))
_BIN[ord("A") : ord("Z") + 1] = UPPER
_N_BINS = UPPER + 1


def bin_of(ch: str) -> int:
    """The bin of a character of ``COUNTED`` in what ``char_counts`` returns."""
    return 1 + COUNTED.index(ch)


def char_counts(text: str) -> list[int]:
    """The number of occurrences of each character of ``COUNTED`` (at ``bin_of``) and of the
    ASCII capitals (at ``UPPER``); other characters land in bin 0."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bins = _BIN.take(np.minimum(cps, _LIMIT))
    counts: list[int] = np.bincount(bins, minlength=_N_BINS).tolist()
    return counts
