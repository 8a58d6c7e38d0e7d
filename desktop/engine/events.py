"""What the engine tells its listeners (the CLI's printer, the window's controller)
while a message runs, and the result it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from desktop.core.errors import ErrorInfo
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelRef, RouteDecision, Usage

__all__ = [
    "Attempt",
    "Notice",
    "AnswerResult",
    "AnswerStarted",
    "AttemptStarted",
    "AnswerDelta",
    "AttemptFailed",
    "AnswerFinished",
    "EngineEvent",
    "Listener",
]


@dataclass(frozen=True)
class Attempt:
    """One try at one model. ``error`` is None for the attempt that answered;
    ``skipped`` is True when the model was not called (cooling down after a failure)."""

    model: ModelRef
    error: ErrorInfo | None = None
    skipped: bool = False
    retries: int = 0

    def to_dict(self) -> dict:
        d: dict = {"model": str(self.model)}
        if self.error is not None:
            d["error"] = self.error.to_dict()
        if self.skipped:
            d["skipped"] = True
        if self.retries:
            d["retries"] = self.retries
        return d


@dataclass(frozen=True)
class Notice:
    """Something the user must know about an answer that is kept (it was cut at its
    length limit): a plain sentence and a fix, which each surface words for itself."""

    kind: str  # "truncated"
    message: str
    fix: Fix

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "fix": self.fix.to_json()}

    @classmethod
    def truncated(cls, ref: ModelRef, who: str | None = None, reason: str | None = None) -> Notice:
        """An answer that reached its length limit: kept, and how to get the rest. ``who``
        (the provider's display name) and ``reason`` (``length``, ``max_tokens``) when known;
        an answer read back from the store has neither."""
        at = f" at {who}" if who else ""
        why = f" ({reason})" if reason else ""
        return cls("truncated", f"The answer from {ref.model}{at} was cut off: it reached its length limit{why}.",
                   Fix(FixAction.CONTINUE_ANSWER, {"provider": ref.provider, "model": ref.model}))


@dataclass
class AnswerResult:
    conversation_id: int
    user_message_id: int
    message_id: int
    status: str  # complete | truncated | interrupted | stopped | error
    text: str
    model: ModelRef | None
    route: RouteDecision
    usage: Usage | None
    cost_usd: Decimal | None
    price_source: str | None
    attempts: list[Attempt] = field(default_factory=list)
    fallback_used: bool = False
    error: ErrorInfo | None = None
    ttft_ms: float | None = None
    served_model: str | None = None  # the model the provider says answered, when another
    notice: Notice | None = None

    @property
    def ok(self) -> bool:
        """An answer came back whole or cut at its limit (a truncated one has a notice)."""
        return self.status in ("complete", "truncated")

    def to_dict(self) -> dict:
        d = {
            "text": self.text,
            "model": None if self.model is None else str(self.model),
            "status": self.status,
            "route": self.route.to_dict(),
            "usage": None if self.usage is None else self.usage.to_dict(),
            "cost_usd": None if self.cost_usd is None else float(self.cost_usd),
            "cost_usd_exact": None if self.cost_usd is None else str(self.cost_usd),
            "price_source": self.price_source,
            "attempts": [a.to_dict() for a in self.attempts],
            "fallback_used": self.fallback_used,
            "served_model": self.served_model,
            "notice": None if self.notice is None else self.notice.to_dict(),
            "ttft_ms": self.ttft_ms,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
        }
        if self.error is not None:
            d["error"] = self.error.to_dict()
        return d


@dataclass(frozen=True)
class AnswerStarted:
    conversation_id: int
    user_message_id: int
    message_id: int
    route: RouteDecision


@dataclass(frozen=True)
class AttemptStarted:
    message_id: int
    model: ModelRef


@dataclass(frozen=True)
class AnswerDelta:
    message_id: int
    text: str


@dataclass(frozen=True)
class AttemptFailed:
    message_id: int
    model: ModelRef
    error: ErrorInfo
    will_retry: bool


@dataclass(frozen=True)
class AnswerFinished:
    result: AnswerResult


EngineEvent = AnswerStarted | AttemptStarted | AnswerDelta | AttemptFailed | AnswerFinished
Listener = Callable[[EngineEvent], None]
