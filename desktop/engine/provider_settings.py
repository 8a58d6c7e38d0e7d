"""A provider as the engine sees it (its stored row, or an implicit local server such as
Ollama at its usual address), and the retry rules that depend on it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from desktop.core.errors import RouteDeskError
from desktop.core.types import ModelRef
from desktop.providers import PRESETS, Preset, Timeouts

__all__ = ["ProviderSettings", "IMPLICIT", "TIMEOUT_OPTION", "timeout_of", "timeouts_for", "with_context", "backoff",
           "MAX_BACKOFF"]

#: Providers that exist without set-up: found on this computer at their usual address.
IMPLICIT = {"ollama": "ollama", "lmstudio": "lmstudio"}
#: Seconds allowed to a provider's first token and between its tokens (the providers table's
#: ``options``; ``providers add --timeout`` and the Timeout field in Settings set it).
TIMEOUT_OPTION = "timeout"
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class ProviderSettings:
    """Name, kind, base URL, whether it is implicit (not stored), and the seconds to wait
    for its answer (None: the app's default)."""

    name: str
    kind: str
    base_url: str | None
    implicit: bool = False
    timeout_s: float | None = None

    @property
    def preset(self) -> Preset:
        return PRESETS[self.kind]

    @property
    def local(self) -> bool:
        return bool(self.preset.local)


def timeout_of(options: object) -> float | None:
    value = options.get(TIMEOUT_OPTION) if isinstance(options, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def timeouts_for(base: Timeouts, cfg: ProviderSettings) -> Timeouts:
    """The limits one provider gets. The user's timeout is the time allowed to the first
    token and between tokens. Without one, the app's limits stand, except that a local
    server (Ollama, LM Studio) gets its preset's longer first token, because it loads the
    model on first use; an app that set a first-token limit of its own (tests) keeps it."""
    if cfg.timeout_s is not None:
        return replace(base, read=cfg.timeout_s, first_token=cfg.timeout_s)
    slow_start = cfg.preset.first_token_s
    if base.first_token is None and slow_start is not None:
        return replace(base, first_token=max(slow_start, base.read))
    return base


def with_context(err: RouteDeskError, ref: ModelRef) -> RouteDeskError:
    """Name the provider and model on an error that does not say."""
    if err.provider is None:
        err.provider = ref.provider
    if err.model is None:
        err.model = ref.model
    return err


def backoff(err: RouteDeskError, attempt: int) -> float:
    """Seconds before retry number ``attempt``: the provider's Retry-After (capped), else
    exponential from half a second."""
    if err.retry_after is not None and err.retry_after >= 0:
        return min(float(err.retry_after), MAX_BACKOFF)
    return min(0.5 * (2 ** (attempt - 1)), 8.0)
