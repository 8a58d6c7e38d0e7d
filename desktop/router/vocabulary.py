"""What the features read from a word, worked out once per distinct word rather than once per
occurrence.

A prompt of 2,000 characters has some 350 words, and reading each one's features in Python
(its family of task words, whether it starts with a letter, its length, its hashed id) cost
about a tenth of the router's decision time. A ``Vocabulary`` keeps every word it has been
asked about as a row of integers, so a prompt's words become one dictionary look-up each (done
in C by ``map``) and one numpy gather; the sums over them are numpy's.

Bounded: once ``limit`` distinct words are held, the next new word starts an empty table (the
rows are worked out again as words come back). Safe to read from several threads: a row is
written before its word is published in the index, a table only grows by copying, and adding
words is serialised by a lock.
"""

from __future__ import annotations

import array
import threading
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

__all__ = ["Vocabulary"]


class _Table:
    __slots__ = ("index", "rows")

    def __init__(self, width: int):
        self.index: dict[str, int] = {}
        self.rows = np.zeros((256, width), dtype=np.int64)


class Vocabulary:
    def __init__(self, describe: Callable[[str], Sequence[int]], width: int, limit: int = 200_000):
        self._describe = describe
        self._width = width
        self._limit = limit
        self._lock = threading.Lock()
        self._table = _Table(width)

    def __len__(self) -> int:
        return len(self._table.index)

    def rows(self, words: list[str]) -> np.ndarray:
        """``describe(w)`` for each word, as an (n, width) int64 array."""
        table = self._table
        found = list(map(table.index.get, words))
        try:
            ids = array.array("q", cast("list[int]", found))  # fails on a None: a word not held yet
        except TypeError:
            table, ids = self._add(words)
        return table.rows.take(np.frombuffer(ids, dtype=np.int64), axis=0)

    def _add(self, words: list[str]) -> tuple[_Table, array.array[int]]:
        with self._lock:
            table = self._table
            new = [w for w in dict.fromkeys(words) if w not in table.index]
            if len(table.index) + len(new) > self._limit:
                table = self._table = _Table(self._width)
                new = list(dict.fromkeys(words))
            index = table.index
            for w in new:
                k = len(index)
                if k == table.rows.shape[0]:
                    grown = np.zeros((2 * k, self._width), dtype=np.int64)
                    grown[:k] = table.rows
                    table.rows = grown
                table.rows[k] = self._describe(w)
                index[w] = k  # published after its row is written
            return table, array.array("q", map(index.__getitem__, words))
