"""Policies: share target tracking, budget pacing, calibration."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from desktop.core.types import RouteDecision
from desktop.router import BudgetPolicy, ShareTargetPolicy, blended_threshold, share_above

REF = np.quantile(np.random.default_rng(0).beta(2, 5, 20_000), np.linspace(0, 1, 201))


def test_threshold_matches_reference_share():
    for share in (0.1, 0.3, 0.5, 0.8):
        t = blended_threshold(share, REF)
        assert share_above(t, REF) == pytest.approx(share, abs=0.01)
    assert blended_threshold(0.0, REF) == 1.0 and blended_threshold(1.0, REF) == 0.0


@pytest.mark.parametrize("target", [0.1, 0.3, 0.6])
def test_share_tracks_target_on_a_shifted_stream(target):
    # the user's prompts score much higher than the reference: the threshold must adapt
    rng = np.random.default_rng(1)
    stream = rng.beta(5, 2, 3000)
    pol = ShareTargetPolicy(target, REF)
    choices = [pol.decide(float(s)).choice == "strong" for s in stream]
    realised = np.mean(choices[-1500:])
    assert realised == pytest.approx(target, abs=0.04)
    # without adaptation the share would be far off
    fixed = np.mean(stream > blended_threshold(target, REF))
    assert abs(fixed - target) > 0.2


def test_share_decision_carries_everything():
    pol = ShareTargetPolicy(0.3, REF, recent_scores=[0.1, 0.2])
    d = pol.decide(0.9)
    assert isinstance(d, RouteDecision)
    assert d.choice == "strong" and d.score == 0.9 and d.policy == "share_target"
    assert d.threshold == pytest.approx(pol.threshold, abs=0.05)
    assert "threshold" in d.reason and "30%" in d.reason
    assert pol.decide(0.0).choice == "weak"


NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def test_budget_paces_spend():
    kw = dict(reference_scores=REF, strong_cost_usd="0.02", messages_per_day=50)
    easy = BudgetPolicy(Decimal("30"), Decimal("5"), NOW, **kw)
    tight = BudgetPolicy(Decimal("30"), Decimal("28"), NOW, **kw)
    assert easy.affordable_share() > tight.affordable_share() > 0
    late = BudgetPolicy(Decimal("30"), Decimal("28"), datetime(2026, 11, 30, 20, tzinfo=UTC), **kw)
    assert late.affordable_share() > tight.affordable_share()  # same money, fewer days left
    d = tight.decide(0.5)
    assert d.policy == "budget" and d.threshold is not None and "left" in d.reason
    tight_thr = tight._share_policy.threshold_for(tight.affordable_share())
    assert tight_thr >= easy._share_policy.threshold_for(easy.affordable_share())


def test_budget_simulated_month_lasts():
    rng = np.random.default_rng(3)
    pol = BudgetPolicy("10", "0", datetime(2026, 11, 1, tzinfo=UTC), reference_scores=REF,
                       strong_cost_usd="0.01", messages_per_day=100)
    spent_by_day = []
    for day in range(30):
        for m in range(100):
            now = datetime(2026, 11, day + 1, 8 + m // 10, (m % 10) * 5, tzinfo=UTC)
            pol.set_now(now)
            d = pol.decide(float(rng.beta(2, 5)))
            if d.choice == "strong":
                pol.record_spend("0.01")
        spent_by_day.append(float(pol.spent))
    assert spent_by_day[-1] <= 10.0
    assert spent_by_day[-1] > 8.0  # the budget is used, not hoarded
    assert spent_by_day[14] < 7.0  # not all spent in the first half


def test_budget_spent_goes_weak_and_says_so():
    pol = BudgetPolicy("20", "20.31", NOW, reference_scores=REF)
    d = pol.decide(0.99)
    assert d.choice == "weak" and d.policy == "budget"
    assert "spent" in d.reason and "$20.00" in d.reason and "1 December" in d.reason
    assert d.score == 0.99 and d.threshold == 1.0
    pol.set_now(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))  # a new month resets spend
    assert pol.decide(0.99).choice == "strong"
