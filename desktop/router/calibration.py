"""Turning a target share of strong calls into a score threshold.

The shipped weights carry a reference score distribution: quantiles of the shipped model's scores
on hand-written everyday chat prompts (``resources/router/reference_prompts.jsonl``; the
benchmark's prompts score differently from chat, so they are not used). A user's own prompts may
still score higher or lower than that reference, so the threshold
is taken from a blend of the two distributions: each of the user's recent prompts (up to
``window``) counts as one, and the reference as ``prior_weight`` prompts at first, fading as
the user's own prompts accumulate (``prior_weight**2 / (prior_weight + n)``). After a few
hundred messages the user's own distribution dominates, so the realised share of strong calls
tracks the target. A small feedback term corrects any remaining gap between the realised share over
the recent decisions and the target.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice

import numpy as np

__all__ = ["blended_threshold", "share_above", "ShareTracker"]


def _ref_cdf(ref_q: np.ndarray, t: np.ndarray) -> np.ndarray:
    probs = np.linspace(0.0, 1.0, ref_q.size)
    # ref_q may contain repeated values; np.interp handles non-decreasing xp
    return np.asarray(np.interp(t, ref_q, probs, left=0.0, right=1.0), dtype=np.float64)


def _fade(prior_weight: float, n: int) -> float:
    return prior_weight * prior_weight / (prior_weight + n) if prior_weight > 0 else 0.0


def share_above(threshold: float, reference: np.ndarray, recent: Iterable[float] = (),
                prior_weight: float = 100.0) -> float:
    """Expected share of scores >= threshold under the blended distribution."""
    ref_q = np.asarray(reference, dtype=np.float64)
    rec = np.sort(np.asarray(list(recent), dtype=np.float64))
    f_ref = float(_ref_cdf(ref_q, np.array([threshold]))[0])
    n = rec.size
    f_rec = np.searchsorted(rec, threshold, side="left") / n if n else 0.0
    pw = _fade(prior_weight, n)
    f = (pw * f_ref + n * f_rec) / (pw + n)
    return 1.0 - f


def blended_threshold(target_share: float, reference: np.ndarray, recent: Iterable[float] = (),
                      prior_weight: float = 100.0) -> float:
    """The score above which about ``target_share`` of prompts fall."""
    target_share = float(min(max(target_share, 0.0), 1.0))
    ref_q = np.asarray(reference, dtype=np.float64)
    rec = np.sort(np.fromiter(recent, dtype=np.float64))
    if target_share <= 0.0:
        return 1.0
    if target_share >= 1.0:
        return 0.0
    grid = np.unique(np.concatenate([ref_q, rec, [0.0, 1.0]]))
    n = rec.size
    f_ref = _ref_cdf(ref_q, grid)
    # below-or-equal CDF for the recent sample; midpoints for steps give a smooth answer
    if n and not np.isnan(rec[-1]):
        # every recent score is a grid point, so how many fall on each gives the counts below
        # and at or below every grid point (the two searches below) with one search per score
        # instead of two per grid point; a NaN (sorted last) is not on the grid
        at = np.bincount(np.searchsorted(grid, rec), minlength=grid.size)
        right = np.cumsum(at)
        f_rec = (right - at + right) / (2.0 * n)
    elif n:
        f_rec = (np.searchsorted(rec, grid, side="left") + np.searchsorted(rec, grid, side="right")) / (2.0 * n)
    else:
        f_rec = np.zeros_like(grid)
    pw = _fade(prior_weight, n)
    f = (pw * f_ref + n * f_rec) / (pw + n)
    f = np.maximum.accumulate(f)
    want = 1.0 - target_share
    i = int(np.searchsorted(f, want, side="left"))
    if i <= 0:
        return float(grid[0])
    if i >= grid.size:
        return float(grid[-1])
    f0, f1 = f[i - 1], f[i]
    x0, x1 = grid[i - 1], grid[i]
    if f1 <= f0:
        return float(x1)
    return float(x0 + (want - f0) * (x1 - x0) / (f1 - f0))


class ShareTracker:
    """Recent scores and choices; corrects the target by the realised gap."""

    def __init__(self, recent_scores: Iterable[float] = (), window: int = 500, gain: float = 0.5):
        self.scores: deque[float] = deque((float(s) for s in recent_scores), maxlen=window)
        self.choices: deque[bool] = deque(maxlen=window)
        self.gain = gain

    def corrected(self, target: float) -> float:
        n = min(len(self.choices), 200)  # the last 200 choices
        if n < 20:
            return target
        realised = sum(islice(reversed(self.choices), n)) / n
        return float(np.clip(target + self.gain * (target - realised), 0.0, 1.0))

    def observe(self, score: float, strong: bool | None = None) -> None:
        self.scores.append(float(score))
        if strong is not None:
            self.choices.append(bool(strong))
