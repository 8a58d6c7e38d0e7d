"""RouteDesk's own JSON export, read back without loss.

``{"format": "routedesk.conversations", "version": 1, "exported_at": ...,
"conversations": [...]}``; each conversation keeps where it came from (``source``),
so the file imported twice, or into the database it came from, adds nothing.
The writer is :mod:`desktop.engine.history_export`; both use the field names here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.engine.import_common import Notes, Unreadable, text_of
from desktop.storage import ImportedAttempt, ImportedConversation, ImportedMessage

__all__ = ["FORMAT", "VERSION", "is_header", "read_conversation", "iso"]

FORMAT = "routedesk.conversations"
VERSION = 1
_ROLES = ("system", "user", "assistant")


def is_header(header: dict[str, Any]) -> bool:
    return header.get("format") == FORMAT


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: Any, what: str, *, required: bool = True) -> datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Unreadable(f"its {what} is missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Unreadable(f"its {what} is not a date ({value[:40]!r})") from None
    if parsed.tzinfo is None:
        raise Unreadable(f"its {what} has no time zone")
    return parsed


def _ref(value: Any) -> ModelRef | None:
    if value is None:
        return None
    try:
        return ModelRef.parse(text_of(value))
    except ValueError:
        raise Unreadable(f"a model name is not PROVIDER/MODEL ({str(value)[:40]!r})") from None


def _usage(value: Any) -> Usage | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Unreadable("a token count is unreadable")
    inp, out = value.get("input_tokens", 0), value.get("output_tokens", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (inp, out)):
        raise Unreadable("a token count is unreadable")
    return Usage(inp, out)


def _error(value: Any) -> ErrorInfo | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Unreadable("an error record is unreadable")
    return ErrorInfo.from_dict(value)


def _route(value: Any) -> RouteDecision | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("choice") not in ("strong", "weak", "fixed"):
        raise Unreadable("a routing record is unreadable")
    score, threshold = value.get("score"), value.get("threshold")
    reasons: list[Any] = value["reasons"] if isinstance(value.get("reasons"), list) else []
    return RouteDecision(
        choice=value["choice"],
        score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        threshold=float(threshold) if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None,
        reason=text_of(value.get("reason")),
        policy=text_of(value.get("policy")),
        reasons=tuple(text_of(r) for r in reasons),
    )


def _cost(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(text_of(value))
    except InvalidOperation:
        raise Unreadable(f"a cost is not an amount ({str(value)[:20]!r})") from None
    if not amount.is_finite():
        raise Unreadable("a cost is not an amount")
    return amount


def _attempt(value: Any) -> ImportedAttempt:
    if not isinstance(value, dict):
        raise Unreadable("an attempt record is unreadable")
    ref = _ref(value.get("model"))
    if ref is None:
        raise Unreadable("an attempt has no model")
    return ImportedAttempt(
        ref=ref,
        ok=bool(value.get("ok")),
        error=_error(value.get("error")),
        usage=_usage(value.get("usage")),
        started_at=_dt(value.get("started_at"), "attempt time", required=False),
        ended_at=_dt(value.get("ended_at"), "attempt time", required=False),
    )


def _message(value: Any) -> ImportedMessage:
    if not isinstance(value, dict) or value.get("role") not in _ROLES or not isinstance(value.get("text"), str):
        raise Unreadable("a message is unreadable")
    ttft = value.get("ttft_ms")
    attempts = value.get("attempts")
    if attempts is None:
        attempts = []
    if not isinstance(attempts, list):
        raise Unreadable("a message's attempts are unreadable")
    return ImportedMessage(
        role=value["role"],
        text=value["text"],
        status=text_of(value.get("status")) or "complete",
        created_at=_dt(value.get("created_at"), "message date"),  # type: ignore[arg-type]
        updated_at=_dt(value.get("updated_at"), "message date", required=False),
        model=_ref(value.get("model")),
        route=_route(value.get("route")),
        usage=_usage(value.get("usage")),
        cost_usd=_cost(value.get("cost_usd")),
        error=_error(value.get("error")),
        ttft_ms=float(ttft) if isinstance(ttft, (int, float)) and not isinstance(ttft, bool) else None,
        fallback_used=bool(value.get("fallback_used")),
        attempts=tuple(_attempt(a) for a in attempts),
        served_model=text_of(value.get("served_model")) or None,
    )


def read_conversation(obj: Any, notes: Notes) -> ImportedConversation:
    """A whole conversation or nothing: a RouteDesk file is ours, so a bad message
    means the conversation was edited or damaged, and importing part of it would lie."""
    if not isinstance(obj, dict):
        raise Unreadable("it is not a conversation")
    source = obj.get("source")
    if not isinstance(source, dict) or not text_of(source.get("system")) or not text_of(source.get("id")):
        raise Unreadable("it does not say where it came from (source)")
    messages = obj.get("messages")
    if not isinstance(messages, list):
        raise Unreadable("it has no messages")
    return ImportedConversation(
        source=source["system"],
        source_id=source["id"],
        title=text_of(obj.get("title")) or "Untitled",
        created_at=_dt(obj.get("created_at"), "date"),  # type: ignore[arg-type]
        updated_at=_dt(obj.get("updated_at"), "date"),  # type: ignore[arg-type]
        deleted_at=_dt(obj.get("deleted_at"), "deletion date", required=False),
        messages=tuple(_message(m) for m in messages),
    )
