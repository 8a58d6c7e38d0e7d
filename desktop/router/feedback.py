"""Learning from the user: an online, bounded, resettable correction to the router's score.

Feedback is a linear correction over the prompt's hashed character 4-grams, centred on the
mean 4-gram vector of the training prompts (shipped with the weights), so that what every
prompt shares ("the ", "what") cancels out and only what a prompt has in common with the
prompts the user rated moves its score. Each event is one logistic-regression gradient step on
that event alone::

    w += lr * (label - p) * (x - mean)

where ``p`` is the score the prompt has now and ``label`` is 1 when the weak answer was worse
(a thumbs-down on a weak answer, "retry with the strong model") and 0 when it was not (a
thumbs-up on a weak answer, or a strong retry that was no better). The score of any prompt then
moves by ``w . (x - mean)`` logits.

Bounds: each weight is clipped to ``±max_weight``, the shift a prompt can receive to
``±max_shift`` logits, and the number of stored buckets to ``max_entries``. ``reset()`` forgets
everything. The state is stored sparsely (``w = w_sparse - c * mean``), so ``to_bytes`` is
small JSON for SQLite and ``from_bytes`` restores it exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .features import HASH_DIM

__all__ = ["FeedbackModel", "FEEDBACK_KINDS", "content_view"]

# feedback kind -> label (1: the weak answer was worse / would have been worse)
FEEDBACK_KINDS = {
    "thumbs_down_weak": 1.0,
    "retry_strong": 1.0,
    "thumbs_up_weak": 0.0,
    "retry_strong_no_better": 0.0,  # retried with the strong model and turned that down too
}


class _View:
    __slots__ = ("idx", "val")

    def __init__(self, idx, val):
        self.idx = idx
        self.val = val


def content_view(features, common=None):
    """The part of a prompt's hashed features feedback reads: its character 4-grams, as
    indices into the character block."""
    idx = features.idx
    keep = idx >= HASH_DIM
    return _View(idx[keep] - HASH_DIM, features.val[keep])


class FeedbackModel:
    def __init__(self, lr: float = 0.3, max_weight: float = 2.0, max_shift: float = 2.0,
                 max_entries: int = 200_000, mean: np.ndarray | None = None):
        self.lr = float(lr)
        self.max_weight = float(max_weight)
        self.max_shift = float(max_shift)
        self.max_entries = int(max_entries)
        self._w: dict[int, float] = {}
        self._c = 0.0  # w = w_sparse - c * mean
        self._ws_mu = 0.0  # w_sparse . mean
        self.events = 0
        self._mean = None
        self._mu2 = 0.0
        if mean is not None:
            self.attach(mean)

    def attach(self, mean: np.ndarray | None) -> None:
        """Set the centre (the router does this with the shipped mean 4-gram vector)."""
        if mean is None:
            return
        self._mean = np.asarray(mean, dtype=np.float64)
        self._mu2 = float(self._mean @ self._mean)
        self._recompute()

    def __len__(self) -> int:
        return len(self._w) + (1 if self._c else 0)

    def _mu(self, idx: np.ndarray) -> np.ndarray:
        return self._mean[idx] if self._mean is not None else np.zeros(idx.size)

    def _recompute(self) -> None:
        if self._w and self._mean is not None:
            k = np.fromiter(self._w.keys(), dtype=np.int64, count=len(self._w))
            v = np.fromiter(self._w.values(), dtype=np.float64, count=len(self._w))
            self._ws_mu = float(v @ self._mean[k])
        else:
            self._ws_mu = 0.0

    def shift(self, view) -> float:
        """Logit shift for a prompt (0 with no feedback)."""
        if not self._w and not self._c:
            return 0.0
        idx = view.idx
        val = view.val
        get = self._w.get
        total = 0.0
        for i, v in zip(idx.tolist(), val.tolist()):
            w = get(i)
            if w is not None:
                total += w * v
        if self._c and idx.size:
            total -= self._c * float(self._mu(idx) @ val)
        total -= self._ws_mu
        total += self._c * self._mu2
        return max(-self.max_shift, min(self.max_shift, total))

    def update(self, view, p: float, label: float) -> None:
        step = self.lr * (float(label) - float(p))
        if step == 0.0 or view.idx.size == 0:
            return
        w = self._w
        lim = self.max_weight
        for i, v in zip(view.idx.tolist(), view.val.tolist()):
            w[i] = max(-lim, min(lim, w.get(i, 0.0) + step * v))
        self._c += step  # the centre term is not clipped: the shift itself is
        self.events += 1
        if len(w) > self.max_entries:
            keep = sorted(w.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[: self.max_entries]
            self._w = dict(keep)
        self._recompute()

    def reset(self) -> None:
        self._w.clear()
        self._c = 0.0
        self._ws_mu = 0.0
        self.events = 0

    # --- storage ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "version": 2,
            "lr": self.lr,
            "max_weight": self.max_weight,
            "max_shift": self.max_shift,
            "max_entries": self.max_entries,
            "events": self.events,
            "c": self._c,
            "weights": {str(k): v for k, v in sorted(self._w.items())},
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict, mean: np.ndarray | None = None) -> "FeedbackModel":
        m = cls(d.get("lr", 0.3), d.get("max_weight", 2.0), d.get("max_shift", 2.0),
                d.get("max_entries", 200_000))
        if d.get("version") == 2:
            m._w = {int(k): float(v) for k, v in d.get("weights", {}).items()
                    if math.isfinite(float(v))}
            m._c = float(d.get("c", 0.0))
            m.events = int(d.get("events", 0))
        m.attach(mean)
        return m

    @classmethod
    def from_bytes(cls, data: bytes | str, mean: np.ndarray | None = None) -> "FeedbackModel":
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return cls.from_dict(json.loads(data), mean)
