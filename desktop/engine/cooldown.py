"""Cool a failing model down so the next message does not wait on it again.

Cooldowns are kept in wall-clock seconds and persisted through the store, because
the command line runs one message per process and must still remember that a
provider failed a moment ago. A success clears the entry at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.types import ModelRef

if TYPE_CHECKING:
    from desktop.storage import Store

__all__ = ["Cooldowns", "Cooling", "COOLDOWN_SECONDS"]

#: How long a model (or, for the provider-wide kinds, its whole provider) is skipped.
COOLDOWN_SECONDS: dict[ErrorKind, float] = {
    ErrorKind.AUTH_INVALID: 600.0,
    ErrorKind.QUOTA_EXHAUSTED: 600.0,
    ErrorKind.MISCONFIGURED: 600.0,
    ErrorKind.MODEL_NOT_FOUND: 600.0,
    ErrorKind.UNREACHABLE: 30.0,
    ErrorKind.TIMEOUT: 30.0,
    ErrorKind.RATE_LIMITED: 20.0,
    ErrorKind.OVERLOADED: 30.0,
    ErrorKind.SERVER_ERROR: 30.0,
    ErrorKind.BAD_RESPONSE: 30.0,
}
_PROVIDER_WIDE = {ErrorKind.AUTH_INVALID, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.MISCONFIGURED, ErrorKind.UNREACHABLE}
_SETTING = "engine.cooldowns"


@dataclass(frozen=True)
class Cooling:
    until: float
    error: ErrorInfo

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.until - now)


class Cooldowns:
    def __init__(self, store: Store | None = None, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._entries: dict[str, Cooling] = {}
        if store is not None:
            for key, raw in (store.get_setting(_SETTING, {}) or {}).items():
                try:
                    self._entries[key] = Cooling(float(raw["until"]), ErrorInfo(**raw["error"]))
                except (KeyError, TypeError, ValueError):
                    continue

    def mark(self, ref: ModelRef, err: RouteDeskError) -> None:
        seconds = COOLDOWN_SECONDS.get(err.kind)
        if seconds is None:
            return
        if err.kind is ErrorKind.RATE_LIMITED and err.retry_after:
            seconds = max(seconds, min(err.retry_after, 300.0))
        key = ref.provider if err.kind in _PROVIDER_WIDE else str(ref)
        self._entries[key] = Cooling(self._clock() + seconds, err.info())
        self._save()

    def check(self, ref: ModelRef) -> Cooling | None:
        now = self._clock()
        for key in (ref.provider, str(ref)):
            entry = self._entries.get(key)
            if entry is not None and entry.until > now:
                return entry
        return None

    def seconds_left(self, cooling: Cooling) -> float:
        return cooling.seconds_left(self._clock())

    def clear(self, ref: ModelRef) -> None:
        removed = [k for k in (ref.provider, str(ref)) if self._entries.pop(k, None) is not None]
        if removed:
            self._save()

    def clear_provider(self, provider: str) -> None:
        """Settings changed (new key, new URL): give the provider a fresh chance."""
        keys = [k for k in self._entries if k == provider or k.startswith(provider + "/")]
        for k in keys:
            del self._entries[k]
        if keys:
            self._save()

    def _save(self) -> None:
        if self._store is None:
            return
        now = self._clock()
        live = {k: v for k, v in self._entries.items() if v.until > now}
        self._entries = live
        self._store.set_setting(
            _SETTING, {k: {"until": v.until, "error": v.error.to_dict()} for k, v in live.items()}
        )

    def rename_provider(self, old: str, new: str) -> None:
        """A provider was renamed: its cooldowns (provider-wide and per model) follow it."""
        moved = {}
        for key, entry in self._entries.items():
            if key == old:
                moved[new] = entry
            elif key.startswith(old + "/"):
                moved[new + key[len(old):]] = entry
            else:
                moved[key] = entry
        if moved != self._entries:
            self._entries = moved
            self._save()
