"""The per-word table the features read words through: every look-up gives the row of the word
asked about, however many words came before, when the table restarts and across threads."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from desktop.router import features, text_features
from desktop.router.vocabulary import Vocabulary


def describe(word):
    return (len(word), ord(word[0]), sum(map(ord, word)))


def expected(words):
    return np.array([describe(w) for w in words], dtype=np.int64).reshape(len(words), 3)


def test_rows_are_each_words_own_across_calls_and_restarts():
    v = Vocabulary(describe, 3, limit=6)
    calls = [["b", "a", "b"], [], ["a"], ["cc", "d", "e", "f", "g"], ["h", "i", "a", "b"], ["a"] * 3,
             [f"w{k}" for k in range(20)], ["b", "cc"]]
    for words in calls:
        assert np.array_equal(v.rows(words), expected(words)), words
        assert len(v) <= max(6, len(set(words)))


def test_rows_stay_right_when_threads_add_words_at_once():
    v = Vocabulary(describe, 3, limit=50)
    pool = [f"word{k}" for k in range(120)]
    bad = []

    def work(seed):
        rng = random.Random(seed)
        for _ in range(300):
            words = rng.choices(pool, k=rng.randint(0, 30))
            if not np.array_equal(v.rows(words), expected(words)):
                bad.append(words)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


PROMPTS = (
    "Solve for x: 3x^2 + 2x - 5 = 0, then explain each step.",
    "Write a Python function that returns the median of a list; the court will hear the plaintiff.",
    "hi, how are you",
    "Which of the following is NOT a prime number?\nA. 2\nB. 3\nC. 9\nD. 11\nAnswer:",
    "Ελληνικά και 中文 words, numbers 1,000 and 3.5, c++ and don't",
)


def _same(a, b):
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("dense", "idx", "val", "chat"))


@pytest.mark.parametrize("limit", [200_000, 8])
def test_each_prompt_gets_its_own_features_whatever_was_read_before(monkeypatch, limit):
    """Two different prompts in a row give their own features, and the same prompt gives the same
    ones after others (also when a small table restarts between prompts)."""
    first = [text_features(p) for p in PROMPTS]
    monkeypatch.setattr(features, "_VOCABULARY", Vocabulary(features._describe, features._WIDTH, limit=limit))
    for order in (PROMPTS, PROMPTS[::-1], PROMPTS + PROMPTS):
        for p in order:
            assert _same(text_features(p), first[PROMPTS.index(p)])
    assert not _same(first[0], first[1])
