"""Typed rows the store returns. Plain frozen dataclasses; no behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage

__all__ = [
    "ANSWER_STATUSES",
    "AttemptRecord",
    "ConversationRecord",
    "FeedbackRecord",
    "LedgerEntry",
    "MessageRecord",
    "PriceOverride",
    "ProviderRecord",
    "RouterScore",
    "SearchHit",
]

#: streaming -> complete | truncated | interrupted | stopped | error. ``truncated``: the
#: answer reached its length limit (kept, with a notice that it was cut).
ANSWER_STATUSES = ("streaming", "complete", "truncated", "interrupted", "stopped", "error")


@dataclass(frozen=True)
class ProviderRecord:
    name: str
    kind: str
    base_url: str | None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PriceOverride:
    """USD per million tokens, set by the user (``routedesk pricing set``)."""

    ref: ModelRef
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime  # last activity; lists are ordered by it, newest first
    deleted_at: datetime | None = None
    message_count: int = 0

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class AttemptRecord:
    """One model tried for an answer, its retries included. ``usage`` is what its
    stream reported (None: nothing); a model skipped without a call (cooling down,
    known down) starts and ends at the same moment."""

    id: int
    message_id: int
    ref: ModelRef
    ok: bool
    error: ErrorInfo | None
    usage: Usage | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    role: str  # "system" | "user" | "assistant"
    status: str  # one of ANSWER_STATUSES; user messages are "complete"
    text: str
    model: ModelRef | None
    route: RouteDecision | None
    usage: Usage | None
    cost_usd: Decimal | None
    error: ErrorInfo | None
    ttft_ms: float | None  # milliseconds to the first token
    fallback_used: bool
    attempts: tuple[AttemptRecord, ...]
    created_at: datetime
    updated_at: datetime
    served_model: str | None = None  # the model the provider says answered, when another


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    message_id: int | None  # None once the conversation was purged; spend stays
    ref: ModelRef
    usage: Usage
    cost_usd: Decimal | None  # None: price unknown
    price_source: str
    strong_cost_usd: Decimal | None  # what the strong model would have cost (savings)
    choice: str
    created_at: datetime
    served_model: str | None = None  # the model the provider says answered (billed at its price)
    provider_cost_usd: Decimal | None = None  # what the provider says it cost (reconciliation)


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    conversation_id: int
    conversation_title: str
    role: str
    snippet: str  # plain text, matches wrapped in « »
    snippet_html: str  # HTML-escaped, matches wrapped in <b></b>
    rank: float  # lower is better: 0 the words side by side, 1 every word, 2 the last word completed
    created_at: datetime


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    message_id: int | None
    value: int
    kind: str
    created_at: datetime
    score: float | None = None  # the router score stored with that answer, if any
    features: dict[str, Any] | None = None  # router features stored with that answer, if any


@dataclass(frozen=True)
class RouterScore:
    id: int
    message_id: int | None
    score: float
    features: dict[str, Any] | None
    created_at: datetime
