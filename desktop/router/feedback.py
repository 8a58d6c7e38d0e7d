"""Learning from the user: an online, bounded, resettable correction to the router's score.

Feedback is a per-hashed-feature bias vector (a sparse dict bucket -> weight over the hashed
word unigrams and bigrams the model reads, leaving out the common ones: any bucket found in
more than 1% of the training prompts, so "the", "what is" and the like carry no feedback). Each event is one logistic-regression
gradient step on the event alone: ``w += lr * (label - p) * x`` where ``p`` is the current score
and ``label`` is 1 when the weak answer was worse (a thumbs-down on a weak answer, or "retry with
the strong model") and 0 when it was fine (a thumbs-up on a weak answer). Prompts sharing
n-grams with the one given feedback move the same way; unrelated prompts barely move.

Bounds: each bucket is clipped to ``±max_weight``, the total shift a prompt can receive to
``±max_shift`` logits, and the memory to ``max_entries`` buckets (the smallest weights are
dropped first). ``reset()`` forgets everything; ``to_bytes``/``from_bytes`` round-trip the
state as JSON for storage in SQLite.
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["FeedbackModel", "FEEDBACK_KINDS", "content_view"]


class _View:
    __slots__ = ("idx", "val")

    def __init__(self, idx, val):
        self.idx = idx
        self.val = val


def content_view(features, common: np.ndarray | None):
    """The part of a prompt's hashed features that feedback reads: word n-gram buckets
    (block 0) that are not common. ``common`` is a boolean array over block-0 buckets."""
    idx = features.idx
    val = features.val
    keep = idx < (common.size if common is not None else 1 << 62)
    if common is not None:
        keep &= ~common[np.minimum(idx, common.size - 1)]
    return _View(idx[keep], val[keep])

# feedback kind -> label (1: the weak answer was worse / would have been worse)
FEEDBACK_KINDS = {
    "thumbs_down_weak": 1.0,
    "retry_strong": 1.0,
    "thumbs_up_weak": 0.0,
    "retry_strong_no_better": 0.0,  # retried with the strong model and turned that down too
}


class FeedbackModel:
    def __init__(self, lr: float = 1.0, max_weight: float = 0.5, max_shift: float = 2.0,
                 max_entries: int = 50_000):
        self.lr = float(lr)
        self.max_weight = float(max_weight)
        self.max_shift = float(max_shift)
        self.max_entries = int(max_entries)
        self._w: dict[int, float] = {}
        self.events = 0

    def __len__(self) -> int:
        return len(self._w)

    def shift(self, features) -> float:
        """Logit shift for a prompt's features (0 with no feedback)."""
        if not self._w or features.idx.size == 0:
            return 0.0
        get = self._w.get
        total = 0.0
        for i, v in zip(features.idx.tolist(), features.val.tolist()):
            w = get(i)
            if w is not None:
                total += w * v
        return max(-self.max_shift, min(self.max_shift, total))

    def update(self, features, p: float, label: float) -> None:
        step = self.lr * (float(label) - float(p))
        if step == 0.0 or features.idx.size == 0:
            return
        w = self._w
        lim = self.max_weight
        for i, v in zip(features.idx.tolist(), features.val.tolist()):
            nv = w.get(i, 0.0) + step * v
            w[i] = max(-lim, min(lim, nv))
        self.events += 1
        if len(w) > self.max_entries:
            keep = sorted(w.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[: self.max_entries]
            self._w = dict(keep)

    def reset(self) -> None:
        self._w.clear()
        self.events = 0

    # --- storage ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "version": 1,
            "lr": self.lr,
            "max_weight": self.max_weight,
            "max_shift": self.max_shift,
            "max_entries": self.max_entries,
            "events": self.events,
            "weights": {str(k): v for k, v in sorted(self._w.items())},
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict) -> "FeedbackModel":
        m = cls(d.get("lr", 1.0), d.get("max_weight", 0.5), d.get("max_shift", 2.0),
                d.get("max_entries", 50_000))
        m._w = {int(k): float(v) for k, v in d.get("weights", {}).items() if math.isfinite(float(v))}
        m.events = int(d.get("events", 0))
        return m

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "FeedbackModel":
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return cls.from_dict(json.loads(data))

    def shift_many(self, feats) -> np.ndarray:
        return np.array([self.shift(f) for f in feats])
