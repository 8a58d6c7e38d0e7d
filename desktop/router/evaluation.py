"""Routing metrics as defined in RouteLLM (and ../shared/routing-bench/README.md).

Sort prompts by score, highest first; sending the top k to the strong model gives accuracy
acc(k); PGR(k) = (acc(k) - w) / (s - w) with w, s the weak and strong accuracies.
APGR is the trapezoid area under PGR against k/n over every k = 0..n; CPT(x) is the smallest
k/n with PGR(k) >= x. Tied scores are handled by their expectation over random tie-breaking
(a constant score therefore gives exactly the random router: APGR 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["pgr_curve", "apgr", "cpt", "RoutingMetrics", "routing_metrics"]


def pgr_curve(scores: ArrayLike, strong_correct: ArrayLike, weak_correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return (fraction of strong calls k/n, PGR(k)) for k = 0..n."""
    scores = np.asarray(scores, dtype=np.float64)
    s = np.asarray(strong_correct, dtype=np.float64)
    w = np.asarray(weak_correct, dtype=np.float64)
    n = scores.size
    if n == 0:
        raise ValueError("no prompts")
    gap = s.mean() - w.mean()
    if gap == 0:
        raise ValueError("the strong and weak models have the same accuracy; PGR is undefined")
    order = np.argsort(-scores, kind="stable")
    sc = scores[order]
    gain = (s - w)[order]
    # average the gain within runs of equal scores (expected value over tie orderings)
    _, start, counts = np.unique(-sc, return_index=True, return_counts=True)
    if start.size < n:
        sums = np.add.reduceat(gain, start)
        gain = np.repeat(sums / counts, counts)
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    frac = np.arange(n + 1) / n
    return frac, cum / n / gap


def apgr(scores: ArrayLike, strong_correct: ArrayLike, weak_correct: ArrayLike) -> float:
    frac, pgr = pgr_curve(scores, strong_correct, weak_correct)
    return float(np.sum((pgr[1:] + pgr[:-1]) * 0.5 * np.diff(frac)))


def cpt(scores: ArrayLike, strong_correct: ArrayLike, weak_correct: ArrayLike, target: float) -> float:
    frac, pgr = pgr_curve(scores, strong_correct, weak_correct)
    hit = np.nonzero(pgr >= target - 1e-12)[0]
    return float(frac[hit[0]]) if hit.size else 1.0


@dataclass(frozen=True)
class RoutingMetrics:
    apgr: float
    cpt50: float
    cpt80: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"apgr": self.apgr, "cpt50": self.cpt50, "cpt80": self.cpt80, "n": self.n}


def routing_metrics(scores: ArrayLike, strong_correct: ArrayLike, weak_correct: ArrayLike) -> RoutingMetrics:
    return RoutingMetrics(
        apgr=apgr(scores, strong_correct, weak_correct),
        cpt50=cpt(scores, strong_correct, weak_correct, 0.5),
        cpt80=cpt(scores, strong_correct, weak_correct, 0.8),
        n=int(np.asarray(scores).size),
    )
