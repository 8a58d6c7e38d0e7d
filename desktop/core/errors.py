"""The one exception tree and the error kinds every failure maps to.

A user never sees a traceback or a raw JSON body: whatever goes wrong ends as a
``RouteDeskError`` with a kind from DESIGN.md, a plain-language ``message`` that
names the provider and model, and a ``fix`` (a ``desktop.core.fixes.Fix``: an action and
its parameters, which each surface words for itself) the user can act on now, and the
server's own words (``detail``, redacted), which each surface shows beside the explanation:
a proxy often knows better than RouteDesk which key or upstream failed. The engine decides
retries and fallbacks from the kind (``RETRY_LIMIT``/``FALLBACK``), unless the error says
itself that retrying cannot help (``retryable=False``: a request larger than a per-minute
limit, a certificate that doesn't verify).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from desktop.core.fixes import Fix, FixLike
from desktop.core.redact import redact

__all__ = [
    "ErrorKind",
    "RouteDeskError",
    "ErrorInfo",
    "RETRYABLE",
    "RETRY_LIMIT",
    "SENT_TIMEOUT_CODES",
    "retry_limit",
    "FALLBACK",
    "TRANSPORT_CODES",
]


class ErrorKind(StrEnum):
    AUTH_INVALID = "auth_invalid"
    QUOTA_EXHAUSTED = "quota_exhausted"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_TOO_LONG = "context_too_long"
    CONTENT_FILTERED = "content_filtered"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    BAD_RESPONSE = "bad_response"
    MISCONFIGURED = "misconfigured"

    def __str__(self) -> str:  # so f-strings print "rate_limited", not "ErrorKind.RATE_LIMITED"
        return self.value


#: Kinds worth trying again on the same model, and how many extra tries each gets.
RETRY_LIMIT: dict[ErrorKind, int] = {
    ErrorKind.RATE_LIMITED: 2,
    ErrorKind.OVERLOADED: 2,
    ErrorKind.SERVER_ERROR: 2,
    ErrorKind.UNREACHABLE: 1,
    ErrorKind.TIMEOUT: 1,
}
RETRYABLE = frozenset(RETRY_LIMIT)

#: Timeout codes raised after the request reached the provider (waiting for the first token,
#: or for the next one): the provider may still be running it, so sending it again would run
#: (and bill) it twice. These are never retried on the same model; a connect or pool timeout
#: (nothing sent yet) still is.
SENT_TIMEOUT_CODES = frozenset({"read_timeout"})


def retry_limit(err: RouteDeskError) -> int:
    """How many extra tries ``err`` allows on the same model: none when the error was made
    knowing a retry cannot help (``retryable=False``), none for a timeout after the request
    was sent (it may be running upstream: never send it twice), else the kind's limit."""
    if err.retry_override is False:
        return 0
    if err.kind is ErrorKind.TIMEOUT and err.code in SENT_TIMEOUT_CODES:
        return 0
    return RETRY_LIMIT.get(err.kind, 0)


#: Kinds after which the engine moves on to the next candidate model.
#: content_filtered is absent on purpose: another model would only hide the refusal.
#: interrupted is absent: the partial answer is kept and the user is offered a retry.
FALLBACK = frozenset(
    {
        ErrorKind.AUTH_INVALID,
        ErrorKind.QUOTA_EXHAUSTED,
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.MODEL_NOT_FOUND,
        ErrorKind.CONTEXT_TOO_LONG,
        ErrorKind.UNREACHABLE,
        ErrorKind.TIMEOUT,
        ErrorKind.BAD_RESPONSE,
        ErrorKind.MISCONFIGURED,
    }
)

#: Codes of failures on the way to a server (``desktop.providers.transport_errors``): their
#: ``detail`` is the system's words (the TLS library's, the resolver's), not a server's.
TRANSPORT_CODES = frozenset({
    "connect_timeout", "pool_timeout", "read_timeout", "tls", "dns", "connection_refused",
    "network_unreachable", "connect_error", "write_error", "interrupted", "disconnected",
    "decoding", "os_error",
})


@dataclass(frozen=True, init=False)
class ErrorInfo:
    """The serialisable face of an error: what the CLI prints and the database keeps.

    ``fix`` is a ``Fix``; a sentence or the JSON form given here (an older row, a caller
    that still writes sentences) is read into one. ``detail`` is the server's own message,
    redacted ("" when it said nothing, and in rows stored before it was kept).
    """

    kind: str
    message: str
    fix: Fix
    provider: str | None = None
    model: str | None = None
    status: int | None = None
    code: str | None = None
    detail: str = ""

    def __init__(
        self,
        kind: str,
        message: str,
        fix: FixLike | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = "",
    ) -> None:
        for name, value in (("kind", str(kind)), ("message", message), ("fix", Fix.coerce(fix)),
                            ("provider", provider), ("model", model), ("status", status), ("code", code),
                            ("detail", redact(detail or ""))):
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``fix`` in its stored form ``{"action", "params"}``."""
        return {
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix.to_json(),
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """The inverse of ``to_dict``, for the store's rows and RouteDesk's own exports; also
        reads rows whose ``fix`` is a sentence. A field of the wrong type (a damaged file)
        reads as missing rather than raising."""

        def text(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        status, fix = data.get("status"), data.get("fix")
        return cls(
            kind=text("kind") or "",
            message=text("message") or "",
            fix=fix if isinstance(fix, str | Mapping) else None,
            provider=text("provider"),
            model=text("model"),
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            code=text("code"),
            detail=text("detail") or "",
        )


class RouteDeskError(Exception):
    """Every failure a user can meet.

    ``detail`` holds the server's own message (or, for a failure on the way, the system's),
    redacted, one line; it never holds headers or keys. ``retryable`` is the kind's default
    (``RETRY_LIMIT``) unless the error was made with ``retryable=False``: it knows that
    waiting and sending again cannot succeed. ``upstream`` names the provider behind a proxy
    that the proxy blames (OpenRouter's ``provider_name``, LiteLLM's ``OpenAIException``).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        fix: FixLike | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        detail: str = "",
        retryable: bool | None = None,
        upstream: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.fix = fix  # the setter reads a sentence or the stored form into a Fix
        self.provider = provider
        self.model = model
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.detail = detail
        self.retry_override = retryable
        self.upstream = upstream

    @property
    def fix(self) -> Fix:
        return self._fix

    @fix.setter
    def fix(self, value: FixLike | None) -> None:
        self._fix = Fix.coerce(value)

    @property
    def retryable(self) -> bool:
        """Whether trying the same model again can help (``retry_limit``)."""
        return retry_limit(self) > 0

    @property
    def falls_back(self) -> bool:
        return self.kind in FALLBACK

    def info(self) -> ErrorInfo:
        return ErrorInfo(
            kind=self.kind.value,
            message=self.message,
            fix=self.fix,
            provider=self.provider,
            model=self.model,
            status=self.status,
            code=self.code,
            detail=self.detail,
        )

    def __repr__(self) -> str:
        return f"RouteDeskError({self.kind.value!r}, {self.message!r})"
