"""What RouteDesk knows about one provider's health, and what that means for the engine:
the statuses, which error kinds imply which status, the ``HealthReport`` itself, and the
attempt the engine records when it skips a provider known to be down."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorInfo, ErrorKind
from desktop.core.fixes import NO_FIX, Fix
from desktop.core.types import ModelRef

if TYPE_CHECKING:
    from desktop.engine.health import HealthMonitor

__all__ = ["STATUSES", "DOWN_AFTER", "HealthReport", "status_for", "skip_info", "skip_reason", "UNUSABLE"]

STATUSES = ("ok", "degraded", "down", "misconfigured", "unknown")
#: Statuses under which a call to the provider is expected to fail: the engine skips it.
UNUSABLE = ("down", "misconfigured")

#: Probe outcome -> status. A kind missing here does not change a provider's status
#: (it is about one model or one message, not the provider).
_PROBE_STATUS: dict[ErrorKind, str] = {
    ErrorKind.UNREACHABLE: "down",
    ErrorKind.TIMEOUT: "down",
    ErrorKind.QUOTA_EXHAUSTED: "down",
    ErrorKind.AUTH_INVALID: "misconfigured",
    ErrorKind.MISCONFIGURED: "misconfigured",
    ErrorKind.RATE_LIMITED: "degraded",
    ErrorKind.OVERLOADED: "degraded",
    ErrorKind.SERVER_ERROR: "degraded",
    ErrorKind.BAD_RESPONSE: "degraded",
    ErrorKind.INTERRUPTED: "degraded",
    ErrorKind.MODEL_NOT_FOUND: "misconfigured",  # on the models endpoint: the address is wrong
}
#: Real traffic is noisier: a slow answer or a broken stream says less about the provider.
_TRAFFIC_STATUS: dict[ErrorKind, str] = {
    ErrorKind.UNREACHABLE: "down",
    ErrorKind.QUOTA_EXHAUSTED: "down",
    ErrorKind.AUTH_INVALID: "misconfigured",
    ErrorKind.MISCONFIGURED: "misconfigured",
    ErrorKind.TIMEOUT: "degraded",
    ErrorKind.RATE_LIMITED: "degraded",
    ErrorKind.OVERLOADED: "degraded",
    ErrorKind.SERVER_ERROR: "degraded",
    ErrorKind.BAD_RESPONSE: "degraded",
}
#: After this many failed probes in a row, a degraded provider counts as down.
DOWN_AFTER = 3


def status_for(kind: ErrorKind | str, *, traffic: bool = False) -> str | None:
    """The provider status an error of ``kind`` implies (None: it says nothing about the provider)."""
    table = _TRAFFIC_STATUS if traffic else _PROBE_STATUS
    return table.get(ErrorKind(kind))


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class HealthReport:
    """What RouteDesk knows about one provider right now."""

    name: str
    kind: str
    status: str = "unknown"
    latency_ms: float | None = None
    last_success: float | None = None  # wall-clock seconds (time.time())
    checked_at: float | None = None  # wall-clock seconds of the last probe or call
    explanation: str = "Not checked yet."
    fix: Fix = NO_FIX
    error_kind: str | None = None
    models: int | None = None
    version: str | None = None
    base_url: str | None = None
    suggested_base_url: str | None = None
    local: bool = False
    source: str = "probe"  # probe | deep | traffic
    missing_models: tuple[str, ...] = ()
    failures: int = 0  # failed probes in a row
    error: ErrorInfo | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait
    model_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fix", Fix.coerce(self.fix))  # a sentence reads as a note

    @property
    def usable(self) -> bool:
        return self.status not in UNUSABLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "last_success": _iso(self.last_success),
            "checked_at": _iso(self.checked_at),
            "explanation": self.explanation,
            "fix": self.fix.to_json(),
            "error_kind": self.error_kind,
            "models": self.models,
            "version": self.version,
            "base_url": self.base_url,
            "suggested_base_url": self.suggested_base_url,
            "local": self.local,
            "source": self.source,
            "missing_models": list(self.missing_models),
            "failures": self.failures,
            "error": None if self.error is None else self.error.to_dict(),
        }


def skip_info(report: HealthReport, ref: ModelRef) -> ErrorInfo:
    """The attempt the engine records when it skips ``ref`` because its provider is down."""
    kind = report.error_kind or ErrorKind.UNREACHABLE.value
    return ErrorInfo(
        kind=kind,
        message=f"Skipped {ref}: {report.explanation}",
        fix=report.fix.without_fallback() or Fix.note("RouteDesk checks it again in the background."),
        provider=ref.provider,
        model=ref.model,
        status=None if report.error is None else report.error.status,
        code="health_" + report.status,
    )


def skip_reason(monitor: HealthMonitor | None, ref: ModelRef,
                candidates: Iterable[ModelRef] = ()) -> ErrorInfo | None:
    """What the engine asks before trying ``ref``: the attempt to record if it should be
    skipped because its provider is known to be down, else None.

    When every candidate's provider is down, nothing is skipped: health may be a few
    seconds stale, and trying beats failing without trying. ``monitor`` may be None (the
    command line runs without a monitor), which skips nothing.
    """
    if monitor is None:
        return None
    info = monitor.should_skip(ref)
    if info is None:
        return None
    others = list(candidates)
    if others and all(monitor.is_down(c.provider) is not None for c in others):
        return None
    return info
