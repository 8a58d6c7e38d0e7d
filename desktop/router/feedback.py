"""Learning from the user: an online, bounded, resettable correction to the router's score.

Two parts, because the two things feedback must do pull in opposite directions:

* **A slow linear correction** over the prompt's hashed character 4-grams, centred on the mean
  4-gram vector of the training prompts (shipped with the weights), so that what every prompt
  shares ("the ", "what") cancels out. Each event is one logistic-regression gradient step::

      w += lr * (label - p) * (x - mean)

  where ``p`` is the score the prompt has now and ``label`` is 1 when the weak answer was worse
  (a thumbs-down on a weak answer, "retry with the strong model") and 0 when it was not (a
  thumbs-up on a weak answer, or a strong retry that was no better). One rating says little
  (whether a weak answer was worse is close to a coin toss for most prompts), so ``lr`` is small
  and the correction is what many ratings agree on. In the benchmark simulation
  (tools/eval_router.py) ``lr`` 0.03 raises APGR steadily with the number of ratings, while 0.3,
  the value until 2026-12, chased single ratings and *lowered* it after a few hundred.

* **A memory of near-repeats**: the last ``max_memory`` rated prompts (their strongest 64
  4-grams) and their residuals ``label - p``. A prompt whose 4-gram cosine similarity to a rated
  one exceeds ``near`` (0.5; a paraphrase of the same request scores about 0.7, an unrelated
  prompt under 0.1) moves by the similarity-weighted average of those residuals::

      k_j = max(0, (cos_j - near) / (1 - near)),   shift = alpha * sum k_j r_j / (sum k_j + lam)

  so a thumbs-down on a weak answer sends the next request of the same kind to the strong
  model, without moving anything that merely shares a few words with it.

Bounds: each linear weight is clipped to ``±max_weight``, the total shift to ``±max_shift``
logits, the linear part to ``max_entries`` buckets and the memory to ``max_memory`` ratings
(oldest forgotten first). ``reset()`` forgets everything. The state is stored as JSON for SQLite
(hashed 4-gram ids and weights, never text), and ``from_dict`` restores it exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .features import HASH_DIM, PromptFeatures

__all__ = ["FeedbackModel", "FEEDBACK_KINDS", "content_view"]

# feedback kind -> label (1: the weak answer was worse / would have been worse)
FEEDBACK_KINDS = {
    "thumbs_down_weak": 1.0,
    "retry_strong": 1.0,
    "thumbs_up_weak": 0.0,
    "retry_strong_no_better": 0.0,  # retried with the strong model and turned that down too
}


_VERSION = 3
# the memory as an inverted index: (terms, starts, ends, owner, values, residuals)
_Packed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_MEMORY_TERMS = 64


class _View:
    __slots__ = ("idx", "val", "_key")

    def __init__(self, idx: np.ndarray, val: np.ndarray):
        self.idx = idx
        self.val = val
        self._key: tuple[np.ndarray, np.ndarray] | None = None

    def key(self) -> tuple[np.ndarray, np.ndarray]:
        """The view's strongest 4-grams, L2-normalised and sorted by id: what the memory of
        near-repeats keeps and compares (computed once per view)."""
        if self._key is None:
            idx, val = self.idx, np.asarray(self.val, dtype=np.float64)
            if idx.size > _MEMORY_TERMS:
                # the strongest, ties by position: what a stable sort of all of them gives, but only
                # those at or above the 64th largest value are sorted
                cut = np.partition(val, idx.size - _MEMORY_TERMS)[idx.size - _MEMORY_TERMS]
                cand = np.flatnonzero(val >= cut)
                top = cand[np.argsort(-val[cand], kind="stable")[:_MEMORY_TERMS]]
                idx, val = idx[top], val[top]
            norm = float(np.sqrt(val @ val))
            order = np.argsort(idx, kind="stable")
            val = val[order] / norm if norm > 0 else val[order]
            # 6 decimals: what is stored in SQLite is exactly what is used, in a third less JSON
            self._key = (idx[order].astype(np.int64), np.round(val, 6))
        return self._key


def content_view(features: PromptFeatures) -> _View:
    """The part of a prompt's hashed features feedback reads: its character 4-grams, as
    indices into the character block."""
    idx = features.idx
    keep = idx >= HASH_DIM
    return _View(idx[keep] - HASH_DIM, features.val[keep])


class FeedbackModel:
    def __init__(self, lr: float = 0.03, max_weight: float = 2.0, max_shift: float = 2.0,
                 max_entries: int = 200_000, mean: np.ndarray | None = None,
                 near: float = 0.5, alpha: float = 3.5, lam: float = 0.5, max_memory: int = 500):
        self.lr = float(lr)
        self.near = float(near)
        self.alpha = float(alpha)
        self.lam = float(lam)
        self.max_memory = int(max_memory)
        self._memory: list[tuple[np.ndarray, np.ndarray, float]] = []
        self._packed: _Packed | None = None
        self.max_weight = float(max_weight)
        self.max_shift = float(max_shift)
        self.max_entries = int(max_entries)
        self._w: dict[int, float] = {}
        self._w_dense: np.ndarray | None = None  # _w as an array over the 4-gram block, built on first use
        self._c = 0.0  # w = w_sparse - c * mean
        self._ws_mu = 0.0  # w_sparse . mean
        self.events = 0
        self._mean: np.ndarray | None = None
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
        return len(self._w) + (1 if self._c else 0) + len(self._memory)

    def _mu(self, idx: np.ndarray) -> np.ndarray:
        return self._mean[idx] if self._mean is not None else np.zeros(idx.size)

    def _recompute(self) -> None:
        if self._w and self._mean is not None:
            k = np.fromiter(self._w.keys(), dtype=np.int64, count=len(self._w))
            v = np.fromiter(self._w.values(), dtype=np.float64, count=len(self._w))
            self._ws_mu = float(v @ self._mean[k])
        else:
            self._ws_mu = 0.0

    def shift(self, view: _View) -> float:
        """Logit shift for a prompt (0 with no feedback)."""
        total = self._linear(view) + self._near_repeats(view)
        return max(-self.max_shift, min(self.max_shift, total))

    def _linear(self, view: _View) -> float:
        if not self._w and not self._c:
            return 0.0
        idx = view.idx
        val = view.val
        total = 0.0
        if idx.size and int(idx.min()) >= 0 and int(idx.max()) < HASH_DIM:
            # the weights a prompt's 4-grams touch, gathered from an array rather than looked up one
            # by one in the dict (0 where there is none); the sum runs left to right from 0.0, as
            # the loop below does, so the shift is the same to the last bit
            terms = self._dense_weights()[idx] * np.asarray(val, dtype=np.float64)
            total += float(np.cumsum(terms)[-1])
        else:
            get = self._w.get
            for i, v in zip(idx.tolist(), val.tolist(), strict=True):
                w = get(i)
                if w is not None:
                    total += w * v
        if self._c and idx.size:
            total -= self._c * float(self._mu(idx) @ val)
        total -= self._ws_mu
        total += self._c * self._mu2
        return total

    def _dense_weights(self) -> np.ndarray:
        """``_w`` as an array over the character block (ids outside it, which only a damaged
        stored state holds, are left out: no prompt's 4-gram has them)."""
        if self._w_dense is None:
            dense = np.zeros(HASH_DIM)
            if self._w:
                k = np.fromiter(self._w.keys(), dtype=np.int64, count=len(self._w))
                v = np.fromiter(self._w.values(), dtype=np.float64, count=len(self._w))
                ok = (k >= 0) & (k < HASH_DIM)
                dense[k[ok]] = v[ok]
            self._w_dense = dense
        return self._w_dense

    def similarities(self, view: _View) -> np.ndarray:
        """Cosine similarity (strongest 4-grams) of a prompt to every remembered rating."""
        if not self._memory or view.idx.size == 0:
            return np.zeros(len(self._memory))
        terms, starts, ends, owner, val, _ = self._index()
        q_idx, q_val = view.key()
        # an inverted index: only the remembered entries that share a term with the prompt are
        # touched (a prompt's 64 terms against up to 32,000 remembered ones)
        pos = np.minimum(np.searchsorted(terms, q_idx), terms.size - 1)
        found = terms[pos] == q_idx
        a, b, w = starts[pos[found]], ends[pos[found]], q_val[found]
        lens = b - a
        if not lens.sum():
            return np.zeros(len(self._memory))
        take = np.repeat(a - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())
        return np.bincount(owner[take], weights=val[take] * np.repeat(w, lens), minlength=len(self._memory))

    def _index(self) -> _Packed:
        """The memory as an inverted index, rebuilt after an update (not per prompt)."""
        if self._packed is None:
            mem = self._memory
            idx = np.concatenate([m[0] for m in mem])
            val = np.concatenate([m[1] for m in mem])
            owner = np.repeat(np.arange(len(mem)), [m[0].size for m in mem])
            order = np.argsort(idx, kind="stable")
            idx, val, owner = idx[order], val[order], owner[order]
            terms, starts = np.unique(idx, return_index=True)
            ends = np.append(starts[1:], idx.size)
            self._packed = (terms, starts, ends, owner, val, np.array([m[2] for m in mem]))
        return self._packed

    def _near_repeats(self, view: _View) -> float:
        if not self._memory:
            return 0.0
        k = np.maximum(self.similarities(view) - self.near, 0.0) / (1.0 - self.near)
        total = float(k.sum())
        if total <= 0.0:
            return 0.0
        return self.alpha * float(k @ self._index()[5]) / (total + self.lam)

    def update(self, view: _View, p: float, label: float) -> None:
        residual = float(label) - float(p)
        if view.idx.size == 0 or not math.isfinite(residual):
            return
        idx, val = view.key()
        self._memory.append((idx, val, residual))
        del self._memory[: max(0, len(self._memory) - self.max_memory)]
        self._packed = None
        self.events += 1
        step = self.lr * residual
        if step == 0.0:
            return  # the linear part learns nothing (and stores no zero weights)
        w = self._w
        lim = self.max_weight
        touched = view.idx.tolist()
        for i, v in zip(touched, view.val.tolist(), strict=True):
            w[i] = max(-lim, min(lim, w.get(i, 0.0) + step * v))
        self._c += step  # the centre term is not clipped: the shift itself is
        if len(w) > self.max_entries:
            keep = sorted(w.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[: self.max_entries]
            self._w = dict(keep)
            self._w_dense = None
        elif self._w_dense is not None:
            inside = [i for i in touched if 0 <= i < HASH_DIM]
            self._w_dense[inside] = [w[i] for i in inside]
        self._recompute()

    def reset(self) -> None:
        self._w.clear()
        self._w_dense = None
        self._memory.clear()
        self._packed = None
        self._c = 0.0
        self._ws_mu = 0.0
        self.events = 0

    # --- storage ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "lr": self.lr,
            "max_weight": self.max_weight,
            "max_shift": self.max_shift,
            "max_entries": self.max_entries,
            "near": self.near,
            "alpha": self.alpha,
            "lam": self.lam,
            "max_memory": self.max_memory,
            "events": self.events,
            "c": self._c,
            "weights": {str(k): v for k, v in sorted(self._w.items())},
            "memory": [{"terms": i.tolist(), "weights": v.tolist(), "residual": r}
                       for i, v, r in self._memory],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict[str, Any], mean: np.ndarray | None = None) -> FeedbackModel:
        """Restore a stored state. Version 2 (before 2026-12: the linear part only, learnt with
        lr 0.3) keeps its weights and takes today's settings; its memory starts empty."""
        version = d.get("version")
        m = cls()
        if version == _VERSION:
            m = cls(d.get("lr", m.lr), d.get("max_weight", m.max_weight), d.get("max_shift", m.max_shift),
                    d.get("max_entries", m.max_entries), near=d.get("near", m.near),
                    alpha=d.get("alpha", m.alpha), lam=d.get("lam", m.lam),
                    max_memory=d.get("max_memory", m.max_memory))
            for e in d.get("memory", []):
                idx = np.asarray(e.get("terms", []), dtype=np.int64)
                val = np.asarray(e.get("weights", []), dtype=np.float64)
                r = float(e.get("residual", 0.0))
                if idx.size and idx.size == val.size and math.isfinite(r) and np.isfinite(val).all():
                    m._memory.append((idx, val, r))
            del m._memory[: max(0, len(m._memory) - m.max_memory)]
        if version in (2, _VERSION):
            m._w = {int(k): float(v) for k, v in d.get("weights", {}).items()
                    if math.isfinite(float(v))}
            m._w_dense = None
            m._c = float(d.get("c", 0.0))
            m.events = int(d.get("events", 0))
        m.attach(mean)
        return m

    @classmethod
    def from_bytes(cls, data: bytes | str, mean: np.ndarray | None = None) -> FeedbackModel:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return cls.from_dict(json.loads(data), mean)
