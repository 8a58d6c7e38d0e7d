"""How values become SQLite column text and back: times, money, JSON, errors.

Money is ``Decimal`` in USD, stored as TEXT and summed as Decimal, never as float.
Timestamps are stored as fixed-width UTC text (sortable) and returned as aware UTC
datetimes. Every error text is passed through :func:`redact` before it is written.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from desktop.core.errors import ErrorInfo
from desktop.core.redact import redact
from desktop.core.types import ModelRef, Usage

__all__ = [
    "clean", "error_of", "error_text", "exact_sum", "json_text", "money_of", "money_text",
    "redact_error_values", "ref_of", "time_of", "time_text", "usage_of", "utcnow", "when_text",
]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def time_text(value: datetime) -> str:
    if value.tzinfo is None:  # naive datetimes are taken as local time
        value = value.astimezone()
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def time_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    # fromisoformat reads our own fixed format ~10x faster than strptime, which
    # dominated opening a long conversation.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def money_text(value: Decimal | int | str | None, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, not float ({value!r}); money is never a float")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{what} must be a finite amount, got {value!r}")
    return str(amount)


def money_of(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def when_text(value: datetime | float | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return time_text(value)
    return time_text(datetime.fromtimestamp(float(value), UTC))


def error_text(error: ErrorInfo | None) -> str | None:
    if error is None:
        return None
    data = error.to_dict()
    for key in ("message", "fix", "code"):
        if isinstance(data.get(key), str):
            data[key] = redact(data[key])
    return json.dumps(data, ensure_ascii=False)


def error_of(text: str | None) -> ErrorInfo | None:
    if not text:
        return None
    return ErrorInfo.from_dict(json.loads(text))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


_ERROR_TEXT_KEYS = frozenset({"message", "fix", "detail", "code", "body", "error"})


def redact_error_values(value: Any, key: str | None = None) -> Any:
    """Redact string values stored under error-ish keys (message, fix, detail...) at any
    depth of a JSON setting, e.g. the engine's cooldowns, which keep ErrorInfo dicts."""
    if isinstance(value, dict):
        return {k: redact_error_values(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_error_values(v, key) for v in value]
    if isinstance(value, str) and key in _ERROR_TEXT_KEYS:
        return redact(value)
    return value


def ref_of(provider: str | None, model: str | None) -> ModelRef | None:
    if provider is None or model is None:
        return None
    return ModelRef(provider, model)


def usage_of(input_tokens: int | None, output_tokens: int | None) -> Usage | None:
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens or 0, output_tokens or 0)


def clean(text: str) -> str:
    """Text SQLite can store: lone surrogates (a broken paste) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # joins split surrogate pairs; a lone one becomes U+FFFD
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def exact_sum(values: Iterable[str]) -> Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[decimal.Inexact] = True  # never round silently
        total = Decimal(0)
        for text in values:
            total += Decimal(text)
        return total
