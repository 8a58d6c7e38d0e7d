"""Spend: what the user paid, what always-strong would have cost, per model, per month
and per period; the one place both surfaces (``routedesk spend``, the window's budget
line and chart) and the budget policy read money from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from desktop.core.types import ModelRef
from desktop.storage import ClientSpend, ClientStore, LedgerEntry, Store

__all__ = ["ModelSpend", "MonthSpend", "SpendPoint", "SpendService", "SpendSummary", "PERIODS", "THIS_APP",
           "month_start"]

#: The chart's periods: since local midnight, the last 7 and the last 30 days.
PERIODS = ("today", "7d", "30d")
#: ``points(client=THIS_APP)``: what the window (or ``routedesk ask``) spent, not a local
#: endpoint client (a client's name is never empty).
THIS_APP = ""
#: The least a strong answer is taken to cost when pacing a budget (never zero).
MIN_STRONG_COST = Decimal("0.000001")


def month_start(now: datetime) -> datetime:
    """The start of the budget's month: midnight on the 1st in the user's local time zone.

    The budget is a promise about "this month" as the user reads it on their calendar,
    so a message sent at 23:30 on the 31st (local) belongs to the month that is ending,
    wherever UTC's midnight falls. Returned as an aware local datetime; ``now`` may be
    naive (taken as local) or aware in any zone.
    """
    local = now.astimezone()
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class ModelSpend:
    model: str  # PROVIDER/MODEL
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    price_unknown: int = 0  # answers whose price is unknown (counted as 0 above)


@dataclass(frozen=True)
class MonthSpend:
    start: datetime  # local midnight on the 1st (see month_start)
    spent_usd: Decimal  # exact sum of known costs since ``start``
    messages: int
    strong_cost_usd: Decimal  # average cost of one strong answer (budget pacing), 0.01 without data
    messages_per_day: float  # the user's pace this month, at least 10


@dataclass(frozen=True)
class SpendSummary:
    total_usd: Decimal
    always_strong_usd: Decimal
    saved_usd: Decimal
    messages: int
    strong_share: float | None  # share of routed answers that went strong
    unpriced_messages: int
    by_model: tuple[ModelSpend, ...]
    month: MonthSpend
    by_client: tuple[ClientSpend, ...] = ()  # spend through the local endpoint, per client
    month_by_client: dict[str, Decimal] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The ``spend --json`` object."""
        return {
            "total_usd": self.total_usd,
            "total_usd_exact": str(self.total_usd),
            "always_strong_usd": self.always_strong_usd,
            "saved_usd": self.saved_usd,
            "messages": self.messages,
            "strong_share": self.strong_share,
            "unpriced_messages": self.unpriced_messages,
            "month_usd": self.month.spent_usd,
            "month_usd_exact": str(self.month.spent_usd),
            "month_start": self.month.start.isoformat(),
            "by_model": [
                {"model": m.model, "messages": m.messages, "input_tokens": m.input_tokens,
                 "output_tokens": m.output_tokens, "cost_usd": m.cost_usd, "price_unknown": m.price_unknown}
                for m in self.by_model
            ],
            "by_client": [
                {"client": c.name, "requests": c.requests, "input_tokens": c.input_tokens,
                 "output_tokens": c.output_tokens, "cost_usd": c.cost_usd, "cost_usd_exact": str(c.cost_usd),
                 "month_usd": self.month_by_client.get(c.name, Decimal(0)), "price_unknown": c.price_unknown,
                 "estimated": c.estimated}
                for c in self.by_client
            ],
        }


@dataclass(frozen=True)
class SpendPoint:
    """One answer on the savings chart."""

    at: float  # POSIX seconds
    choice: str  # "strong" | "weak" | "fixed" | ...
    cost_usd: Decimal  # 0 when the price is unknown
    always_strong_usd: Decimal  # what the strong model would have cost
    forced_strong: bool = field(default=False)  # the user picked the strong model by hand


def _always_strong(e: LedgerEntry) -> Decimal:
    if e.strong_cost_usd is not None:
        return e.strong_cost_usd
    return e.cost_usd if e.cost_usd is not None else Decimal(0)


class SpendService:
    """Reads the ledger; never writes it (the engine books each answer as it finishes)."""

    def __init__(self, store: Store, pair_strong: Callable[[], ModelRef | None],
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._pair_strong = pair_strong
        self._clock = clock

    def now(self) -> datetime:
        """The engine's clock as an aware local datetime."""
        return datetime.fromtimestamp(self._clock(), UTC).astimezone()

    def month(self) -> MonthSpend:
        """This (local calendar) month's spend and pace: the budget line and the budget policy."""
        now = self.now()
        start = month_start(now)
        entries = self._store.ledger(since=start)
        spent = sum((x.cost_usd for x in entries if x.cost_usd is not None), Decimal(0))
        extra = [x.strong_cost_usd for x in entries if x.strong_cost_usd is not None]
        strong_cost = max((sum(extra, Decimal(0)) / len(extra)) if extra else Decimal("0.01"), MIN_STRONG_COST)
        days = max((now - start).total_seconds() / 86400.0, 1.0)
        return MonthSpend(start, spent, len(entries), strong_cost, max(len(entries) / days, 10.0))

    def summary(self) -> SpendSummary:
        """Everything spent so far, per model, and this month."""
        entries = self._store.ledger()
        total = sum((e.cost_usd for e in entries if e.cost_usd is not None), Decimal(0))
        strong = sum((_always_strong(e) for e in entries), Decimal(0))
        by_model: dict[str, dict] = {}
        unknown = 0
        for e in entries:
            m = by_model.setdefault(str(e.ref), {"messages": 0, "input_tokens": 0, "output_tokens": 0,
                                                 "cost_usd": Decimal(0), "price_unknown": 0})
            m["messages"] += 1
            m["input_tokens"] += e.usage.input_tokens
            m["output_tokens"] += e.usage.output_tokens
            if e.cost_usd is None:
                m["price_unknown"] += 1
                unknown += 1
            else:
                m["cost_usd"] += e.cost_usd
        choices = [e.choice for e in entries if e.choice in ("strong", "weak")]
        month = self.month()
        clients = ClientStore(self._store)
        return SpendSummary(
            total_usd=total,
            always_strong_usd=strong,
            saved_usd=strong - total,
            messages=len(entries),
            strong_share=(choices.count("strong") / len(choices)) if choices else None,
            unpriced_messages=unknown,
            by_model=tuple(ModelSpend(model, **v) for model, v in by_model.items()),
            month=month,
            by_client=tuple(clients.spend_by_client()),
            month_by_client={c.name: c.cost_usd for c in clients.spend_by_client(since=month.start)},
        )

    def since(self, period: str) -> datetime:
        """Where a chart period starts: "today" (local midnight), "7d" or "30d"."""
        now = self.now()
        if period == "today":
            return now.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "7d":
            return now - timedelta(days=7)
        if period == "30d":
            return now - timedelta(days=30)
        raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")

    def points(self, period: str, client: str | None = None) -> list[SpendPoint]:
        """Each answer in ``period``, oldest first, with its always-strong cost; with
        ``client``, only what that local-endpoint client spent (``THIS_APP``: only what
        RouteDesk's own window and command line spent)."""
        strong = self._pair_strong()
        out = []
        of_client = ClientStore(self._store).client_of_ledger() if client is not None else {}
        for e in self._store.ledger(since=self.since(period)):
            if client is not None and of_client.get(e.id, THIS_APP) != client:
                continue
            cost = e.cost_usd if e.cost_usd is not None else Decimal(0)
            at = e.created_at if e.created_at.tzinfo is not None else e.created_at.replace(tzinfo=UTC)
            forced = e.choice == "fixed" and strong is not None and e.ref == strong
            out.append(SpendPoint(at.timestamp(), e.choice, cost, _always_strong(e), forced))
        return out

    def clients(self) -> list[str]:
        """The endpoint clients a spend filter offers: every active one, and every removed
        one that spent something (its spend stays under its name), by name."""
        store = ClientStore(self._store)
        return sorted({c.name for c in store.list()} | {c.name for c in store.spend_by_client()})
