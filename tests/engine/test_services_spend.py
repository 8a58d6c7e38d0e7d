"""engine.spend: one definition of "this month" (the user's local calendar month) for
the budget policy, the window's budget line and ``routedesk spend --json``."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desktop.cli import main
from desktop.core.types import ModelRef, Usage
from desktop.engine.app import Engine
from desktop.engine.routing import RoutingSettings
from desktop.engine.spend import month_start
from desktop.storage import Store

REF = ModelRef("work", "gpt-4o")
_HOUR = timedelta(hours=1)
# 05:00 on 1 March in UTC+14 (Kiribati) is still 28 February, 15:00 UTC
NOW = datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
IN_LOCAL_MONTH = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)  # 02:00 on 1 March, local
LAST_LOCAL_MONTH = datetime(2026, 2, 27, 9, 0, tzinfo=UTC)  # 23:00 on 27 February, local


@pytest.fixture
def kiribati(monkeypatch):
    """The user's clock is UTC+14 (a POSIX TZ string: no tz database needed)."""
    monkeypatch.setenv("TZ", "KIR-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _book(path, when: datetime, cost: str) -> None:
    s = Store(path, now=lambda: when)
    try:
        s.add_ledger_entry(None, REF, Usage(10, 10), Decimal(cost), "override", Decimal(cost) * 2, "weak")
    finally:
        s.close()


@pytest.fixture
def engine(home, kiribati):
    path = home / "routedesk.sqlite3"
    Store(path).close()
    _book(path, LAST_LOCAL_MONTH, "0.50")
    _book(path, IN_LOCAL_MONTH, "0.25")
    eng = Engine.open(home, clock=NOW.timestamp)
    yield eng
    eng.store.close()


def test_the_month_starts_at_local_midnight_on_the_first(kiribati):
    start = month_start(NOW)
    assert (start.year, start.month, start.day, start.hour) == (2026, 3, 1, 0)
    assert start.astimezone(UTC) == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)


def test_month_spend_counts_only_the_local_month(engine):
    month = engine.spend.month()
    assert month.spent_usd == Decimal("0.25")  # UTC's February would also count the 0.50
    assert month.messages == 1


def test_budget_pacing_uses_the_same_month(engine):
    engine.set_routing_settings(RoutingSettings("budget", 0.3, Decimal("10")))
    engine._router_loaded, engine._router = True, None  # the policy only, not the weights
    from desktop.router import load_router

    engine._router = load_router()
    policy = engine.policy()
    assert policy.spent == Decimal("0.25")
    assert policy.remaining == Decimal("9.75")


def test_spend_json_gives_the_local_month(home, kiribati):
    path = home / "routedesk.sqlite3"
    Store(path).close()
    start = month_start(datetime.now(UTC))
    _book(path, start.astimezone(UTC) + (datetime.now(UTC) - start) / 2, "0.25")  # this local month
    _book(path, start.astimezone(UTC) - _HOUR, "0.50")  # 23:00 on the last day of the month before
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["spend", "--json"]) == 0
    data = json.loads(out.getvalue())
    assert Decimal(data["month_usd_exact"]) == Decimal("0.25")
    assert data["month_start"] == start.isoformat()
    assert Decimal(data["total_usd_exact"]) == Decimal("0.75")
    assert data["always_strong_usd"] == 1.5 and data["saved_usd"] == 0.75
    assert [m["model"] for m in data["by_model"]] == ["work/gpt-4o"]


def test_chart_periods_start_where_the_user_expects(engine):
    today = engine.spend.since("today")
    assert (today.day, today.hour) == (1, 0)  # local midnight, 1 March
    assert [p.cost_usd for p in engine.spend.points("today")] == [Decimal("0.25")]
    assert [p.cost_usd for p in engine.spend.points("7d")] == [Decimal("0.50"), Decimal("0.25")]
    with pytest.raises(ValueError):
        engine.spend.since("year")
