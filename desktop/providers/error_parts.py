"""The pieces every error message from a provider is made of: how it names the provider,
the redacted one-line excerpt kept as ``detail``, and the fix about that provider."""

from __future__ import annotations

from desktop.core.fixes import Fix, FixAction
from desktop.core.redact import redact
from desktop.providers.presets import PRESETS, display_name

__all__ = ["who", "excerpt", "fix_about", "preset_url", "model_part", "DETAIL_LIMIT", "STATUS_PAGE"]

DETAIL_LIMIT = 400  # the server's words: OpenAI's longest messages fit whole
STATUS_PAGE = "check the provider's status page"


def fix_about(action: FixAction, provider: str | None, kind: str | None, **params: str | None) -> Fix:
    """A fix about this provider; empty parameters are dropped."""
    every = {"provider": provider or kind, "kind": kind, **params}
    return Fix(action, {k: v for k, v in every.items() if v})


def preset_url(kind: str | None, which: str) -> str | None:
    """One of the preset's help pages (``keys_url``, ``billing_url``, ...), if it has one."""
    preset = PRESETS.get(kind or "")
    url = getattr(preset, which, None) if preset is not None else None
    return url if isinstance(url, str) else None


def excerpt(text: str, limit: int = DETAIL_LIMIT) -> str:
    one_line = " ".join(redact(text[: limit * 4]).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def who(provider: str | None, kind: str | None) -> str:
    """How a message names the provider: "OpenAI", or "work (OpenAI)" for a custom name."""
    shown = display_name(kind)
    if not provider or provider == kind or provider.lower() == shown.lower():
        return shown
    return f"{provider} ({shown})"


def model_part(model: str | None) -> str:
    return f" for {model}" if model else ""
