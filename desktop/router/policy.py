"""Policies turn a score into a choice; every decision carries score, threshold, policy name,
a reason sentence and the top feature phrases.

* ``ShareTargetPolicy``: the user picks a target share of strong calls; the threshold is the
  matching quantile of the reference score distribution blended with the user's recent scores
  (see ``calibration``), so the realised share tracks the target.
* ``BudgetPolicy``: the user sets a monthly budget; the policy works out how many strong calls
  the money left can pay for over the days left in the month, turns that into a share and a
  threshold, and once the budget is spent routes everything to the weak model and says so.

A message goes to the strong model when its score is strictly above the threshold.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import numpy as np

from desktop.core.types import RouteDecision

from .calibration import ShareTracker, blended_threshold

__all__ = ["ShareTargetPolicy", "BudgetPolicy", "month_bounds"]


class Scored(Protocol):
    """What a policy reads from a router score (``desktop.router.Score`` is one)."""

    @property
    def value(self) -> float: ...

    @property
    def reasons(self) -> tuple[str, ...]: ...


def _unpack(score: Scored | float) -> tuple[float, tuple[str, ...]]:
    if hasattr(score, "value"):  # a Score, or anything shaped like one
        return float(score.value), tuple(getattr(score, "reasons", ()))
    return float(score), ()


def _side(score: Scored | float, strong: bool, reasons: tuple[str, ...]) -> tuple[str, ...]:
    """The factors on the side the choice went: what raised the score for a strong choice,
    what lowered it for a weak one (when the score says; otherwise its ``reasons``)."""
    raised, lowered = getattr(score, "raised", ()), getattr(score, "lowered", ())
    if not raised and not lowered:
        return reasons
    return tuple(raised if strong else lowered)


def _because(reasons: Sequence[str]) -> str:
    return f" Main factors: {', '.join(reasons)}." if reasons else ""


class ShareTargetPolicy:
    name = "share_target"

    def __init__(self, target_share: float, reference_scores: Iterable[float],
                 recent_scores: Iterable[float] = (), *, window: int = 500,
                 prior_weight: float = 100.0, adapt: bool = True, correct: bool = True):
        if not 0.0 <= float(target_share) <= 1.0:
            raise ValueError("target_share must be between 0 and 1")
        self.target_share = float(target_share)
        self.reference = np.sort(np.asarray(list(reference_scores), dtype=np.float64))
        if self.reference.size < 2:
            raise ValueError("need a reference score distribution (the shipped quantiles)")
        self.tracker = ShareTracker(recent_scores, window=window)
        self.prior_weight = prior_weight
        self.adapt = adapt
        self.correct = correct
        self._cache: tuple[tuple[int, float], float] | None = None
        self._version = 0

    @property
    def threshold(self) -> float:
        return self.threshold_for(self.target_share)

    def threshold_for(self, share: float) -> float:
        eff = self.tracker.corrected(share) if (self.adapt and self.correct) else share
        key = (self._version, round(eff, 6))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        t = blended_threshold(eff, self.reference, self.tracker.scores if self.adapt else (),
                              self.prior_weight)
        self._cache = (key, t)
        return t

    def observe(self, score: float, strong: bool | None = None) -> None:
        self.tracker.observe(score, strong)
        self._version += 1

    def decide(self, score: Scored | float, *, record: bool = True) -> RouteDecision:
        value, reasons = _unpack(score)
        thr = self.threshold
        strong = value > thr
        reasons = _side(score, strong, reasons)
        side = "above" if strong else "at or below"
        reason = (
            f"Score {value:.2f} is {side} the threshold {thr:.2f} that sends about "
            f"{self.target_share:.0%} of messages to the strong model, so it goes to the "
            f"{'strong' if strong else 'weak'} model.{_because(reasons)}"
        )
        if record:
            self.observe(value, strong)
        return RouteDecision("strong" if strong else "weak", value, thr, reason, self.name, reasons)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    end = start.replace(year=now.year + 1, month=1) if now.month == 12 else start.replace(month=now.month + 1)
    assert (end - start).days == days
    return start, end


class BudgetPolicy:
    """Pace a monthly budget. ``strong_cost_usd`` is the expected extra cost of one strong call
    over a weak one (the engine passes its running average); ``messages_per_day`` the user's
    usual volume. The affordable share is the money left per remaining message divided by the
    cost of a strong call, capped at ``max_share``."""

    name = "budget"

    def __init__(self, monthly_usd: Decimal | float | str, spent_usd: Decimal | float | str,
                 now: datetime | None = None, *, reference_scores: Iterable[float] = (),
                 recent_scores: Iterable[float] = (), strong_cost_usd: Decimal | float | str = "0.01",
                 messages_per_day: float = 30.0, max_share: float = 0.9,
                 prior_weight: float = 100.0):
        self.monthly = Decimal(str(monthly_usd))
        self.spent = Decimal(str(spent_usd))
        self.now = now or datetime.now(UTC)
        self.strong_cost = Decimal(str(strong_cost_usd))
        self.messages_per_day = float(messages_per_day)
        self.max_share = float(max_share)
        ref = list(reference_scores)
        if len(ref) < 2:
            ref = list(np.linspace(0.0, 1.0, 101))
        self._share_policy = ShareTargetPolicy(0.5, ref, recent_scores, prior_weight=prior_weight, correct=False,
                                               adapt=True)

    def record_spend(self, cost_usd: Decimal | float | str, now: datetime | None = None) -> None:
        self.spent += Decimal(str(cost_usd))
        if now is not None:
            self.set_now(now)

    def set_now(self, now: datetime) -> None:
        if (now.year, now.month) != (self.now.year, self.now.month):
            self.spent = Decimal("0")
        self.now = now

    @property
    def remaining(self) -> Decimal:
        return self.monthly - self.spent

    def days_left(self) -> float:
        _, end = month_bounds(self.now)
        return max((end - self.now).total_seconds() / 86400.0, 1.0 / 24.0)

    def affordable_share(self) -> float:
        if self.remaining <= 0:
            return 0.0
        if self.strong_cost <= 0:
            return self.max_share
        per_message = float(self.remaining) / (self.days_left() * self.messages_per_day)
        return float(min(self.max_share, max(0.0, per_message / float(self.strong_cost))))

    def decide(self, score: Scored | float, *, record: bool = True) -> RouteDecision:
        value, reasons = _unpack(score)
        _, end = month_bounds(self.now)
        if self.remaining <= 0 or self.remaining < self.strong_cost:
            if record:
                self._share_policy.observe(value, False)
            reason = (
                f"The monthly budget of ${self.monthly:.2f} is spent (${self.spent:.2f} used), so "
                f"this goes to the weak model until it resets on {end:%-d %B}."
            )
            return RouteDecision("weak", value, 1.0, reason, self.name, reasons)
        share = self.affordable_share()
        thr = self._share_policy.threshold_for(share) if share > 0 else 1.0
        strong = value > thr
        reasons = _side(score, strong, reasons)
        reason = (
            f"${self.remaining:.2f} of the ${self.monthly:.2f} monthly budget is left for "
            f"{self.days_left():.1f} days, which pays for about {share:.0%} of messages on the "
            f"strong model; score {value:.2f} is {'above' if strong else 'at or below'} the "
            f"threshold {thr:.2f}, so it goes to the {'strong' if strong else 'weak'} model."
            f"{_because(reasons)}"
        )
        if record:
            self._share_policy.observe(value, strong)
        return RouteDecision("strong" if strong else "weak", value, thr, reason, self.name, reasons)
