"""View models: plain state plus Qt signals, no widgets (napari style).

Views receive one of these in ``__init__`` and subscribe to its signals; the
controller (``controller.py``) is the only thing that mutates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage

__all__ = [
    "MessageItem",
    "Failure",
    "ChatSession",
    "ConversationRow",
    "ConversationListModel",
    "RoutingState",
    "SpendPoint",
    "SpendSeries",
    "ProviderHealth",
    "HealthModel",
    "PullProgress",
]


@dataclass
class Failure:
    """One failed attempt shown above an answer (a fallback notice)."""

    model: ModelRef | None
    error: ErrorInfo
    will_retry: bool = False


@dataclass
class MessageItem:
    role: str  # "user" | "assistant"
    text: str = ""
    id: int | None = None
    status: str = "complete"  # pending | streaming | complete | truncated | stopped | interrupted | error
    model: ModelRef | None = None
    route: RouteDecision | None = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    price_source: str | None = None
    ttft_ms: float | None = None
    error: ErrorInfo | None = None
    failures: list[Failure] = field(default_factory=list)
    attempts: list[Any] = field(default_factory=list)
    fallback_used: bool = False
    feedback: int = 0
    prompt: str = ""  # the user text this answer replies to (for regenerate / retry)
    mode: Any = "auto"
    created_at: datetime | None = None
    served_model: str | None = None  # the model the provider says answered, when another
    notice: Any = None  # desktop.engine.events.Notice: a kept answer the user must know about

    @property
    def finished(self) -> bool:
        return self.status not in ("pending", "streaming")


class ChatSession(QObject):
    """The messages of the open conversation."""

    reset = Signal()
    added = Signal(object)  # MessageItem
    prepended = Signal(int)  # how many older items were put in front
    changed = Signal(object)  # MessageItem: status, meta or failures changed
    delta = Signal(object)  # MessageItem: text grew (views batch these)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.conversation_id: int | None = None
        self.title: str = ""
        self.items: list[MessageItem] = []
        self.more_before = False  # older messages exist in the database, not loaded yet

    def set_items(self, conversation_id: int | None, items: list[MessageItem], title: str = "",
                  more_before: bool = False) -> None:
        self.conversation_id = conversation_id
        self.items = items
        self.title = title
        self.more_before = more_before
        self.reset.emit()

    def prepend(self, items: list[MessageItem], more_before: bool) -> None:
        self.items[0:0] = items
        self.more_before = more_before
        self.prepended.emit(len(items))

    def append(self, item: MessageItem) -> None:
        self.items.append(item)
        self.added.emit(item)

    def find(self, message_id: int) -> MessageItem | None:
        for item in reversed(self.items):
            if item.id == message_id:
                return item
        return None


@dataclass
class ConversationRow:
    id: int
    title: str
    updated_at: datetime | None = None
    snippet: str = ""  # set for search hits
    message_id: int | None = None


class ConversationListModel(QAbstractListModel):
    IdRole = Qt.ItemDataRole.UserRole + 1
    MessageRole = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ConversationRow] = []

    def set_rows(self, rows: list[ConversationRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt's own default)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if row.snippet:
                return f"{row.title}\n{row.snippet}"
            return row.title
        if role == Qt.ItemDataRole.ToolTipRole:
            when = row.updated_at.strftime("%Y-%m-%d %H:%M") if row.updated_at else ""
            return f"{row.title}\n{when}".strip()
        if role == self.IdRole:
            return row.id
        if role == self.MessageRole:
            return row.message_id
        return None

    def row_of(self, conversation_id: int | None) -> int:
        for i, row in enumerate(self.rows):
            if row.id == conversation_id:
                return i
        return -1


class RoutingState(QObject):
    """Mode, cost-quality control and the current strong/weak pair."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mode: str | ModelRef = "auto"
        self.control: str = "share"  # "share" | "budget"
        self.target_share: float = 0.3
        self.monthly_budget: Decimal | None = None
        self.strong: ModelRef | None = None
        self.weak: ModelRef | None = None
        self.models: list[ModelRef] = []


@dataclass(frozen=True)
class SpendPoint:
    ts: float  # unix seconds
    choice: str
    cost: Decimal
    strong_cost: Decimal
    to_strong: bool = False  # routed to the strong model (auto) or sent there by the user

    def __post_init__(self) -> None:
        if self.choice == "strong":
            object.__setattr__(self, "to_strong", True)


class SpendSeries(QObject):
    """Ledger entries over the chosen range, for the live chart."""

    changed = Signal()

    RANGES = {"today": "Today", "7d": "7 days", "30d": "30 days"}

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.range: str = "today"
        self.client: str | None = None  # None: all; engine.spend.THIS_APP: the window; else a client's name
        self.points: list[SpendPoint] = []

    def set_points(self, points: list[SpendPoint]) -> None:
        self.points = sorted(points, key=lambda p: p.ts)
        self.changed.emit()

    # derived series -------------------------------------------------------------
    def share_series(self) -> tuple[list[float], list[float]]:
        """Running share of strong calls (0..100 %) after each message."""
        xs, ys = [], []
        strong = 0
        for i, p in enumerate(self.points, 1):
            strong += p.to_strong
            xs.append(p.ts)
            ys.append(100.0 * strong / i)
        return xs, ys

    def spend_series(self) -> tuple[list[float], list[float], list[float]]:
        xs, spent, always = [], [], []
        s = Decimal(0)
        a = Decimal(0)
        for p in self.points:
            s += p.cost
            a += p.strong_cost
            xs.append(p.ts)
            spent.append(float(s))
            always.append(float(a))
        return xs, spent, always

    def totals(self) -> tuple[Decimal, Decimal, float | None]:
        spent = sum((p.cost for p in self.points), Decimal(0))
        always = sum((p.strong_cost for p in self.points), Decimal(0))
        share = (sum(p.to_strong for p in self.points) / len(self.points)) if self.points else None
        return spent, always, share


@dataclass
class ProviderHealth:
    """What the health widget shows for one provider; fed by probes or a test."""

    name: str
    kind: str = ""
    status: str = "unknown"  # ok | degraded | down | unknown | checking
    summary: str = "Not checked yet"
    explanation: str = ""
    fix: str = ""
    models: list[str] = field(default_factory=list)
    local: bool = False
    checked_at: datetime | None = None
    latency_ms: float | None = None


@dataclass
class PullProgress:
    status: str
    completed: int | None = None
    total: int | None = None
    done: bool = False
    error: str | None = None

    @property
    def fraction(self) -> float | None:
        if self.total:
            return min(1.0, (self.completed or 0) / self.total)
        return None


class HealthModel(QObject):
    changed = Signal()
    pull_progress = Signal(object)  # PullProgress

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.providers: dict[str, ProviderHealth] = {}
        self.local_models: list[str] = []
        self.checking = False

    def set_provider(self, health: ProviderHealth) -> None:
        self.providers[health.name] = health
        self.changed.emit()

    def set_all(self, items: list[ProviderHealth], local_models: list[str] | None = None) -> None:
        self.providers = {h.name: h for h in items}
        if local_models is not None:
            self.local_models = list(local_models)
        self.changed.emit()
