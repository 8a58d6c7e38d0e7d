"""What a stream says about its own end, beyond the text: an error the provider sent after
the answer had started, the model that really answered, and what the call cost.

Shared by the OpenAI-compatible and Anthropic parsers so both read these the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import FixAction
from desktop.core.types import same_model
from desktop.providers.error_parts import excerpt, fix_about, who

__all__ = ["broke_off", "error_words", "money", "served", "fallbacks_header"]


def error_words(payload: Any) -> tuple[str, str | None]:
    """The provider's own message and code in an error object (``{"error": {...}}``, an
    Anthropic error event, or a bare string)."""
    err = payload.get("error", payload) if isinstance(payload, Mapping) else payload
    if isinstance(err, Mapping):
        message = err.get("message")
        code = err.get("code") if err.get("code") is not None else err.get("type")
        return (message if isinstance(message, str) else ""), (None if code is None else str(code))
    return (err if isinstance(err, str) else ""), None


def broke_off(payload: Any, *, provider: str | None, kind: str | None, model: str | None) -> RouteDeskError:
    """An error sent inside a 200 stream after text had arrived (OpenRouter's chunk with
    ``error`` and ``finish_reason: "error"``, Anthropic's ``event: error``): the answer is
    interrupted, the text so far is kept, and the provider's words go along as ``detail``.
    Another model can't continue an answer it didn't start, so this never falls back."""
    message, code = error_words(payload)
    name = who(provider, kind)
    said = f" ({code})" if code and not code.isdigit() else ""
    return RouteDeskError(
        ErrorKind.INTERRUPTED,
        f"{name} stopped the answer partway: it reported an error{said}.",
        fix_about(FixAction.RETRY_PARTIAL, provider, kind),
        provider=provider, model=model, code="stream_error",
        detail=excerpt(message or "an error with no message"),
    )


def money(value: Any) -> Decimal | None:
    """A cost in USD as a provider writes it (a JSON number or a header's text), exactly;
    None for anything that isn't a finite, non-negative number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def served(asked: str | None, named: Any) -> str | None:
    """``named`` when it is another model than ``asked`` (dated snapshots are the same)."""
    if not isinstance(named, str) or not named.strip() or not asked:
        return None
    named = named.strip()
    return None if same_model(asked, named) else named


def fallbacks_header(headers: Mapping[str, str]) -> int:
    """LiteLLM's ``x-litellm-attempted-fallbacks``: how many fallbacks the proxy tried."""
    try:
        return max(0, int(str(headers.get("x-litellm-attempted-fallbacks", "0")).strip() or 0))
    except ValueError:
        return 0
