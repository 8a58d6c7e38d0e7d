"""Providers: one module per wire protocol, presets for known services, and the
classification of every HTTP or network failure into a RouteDesk error kind.

    provider = make_provider("openai", "work", None, key, client)
    async for event in provider.stream_chat("gpt-4o-mini", messages):
        ...
"""

from __future__ import annotations

import httpx

from desktop.providers.anthropic import AnthropicProvider
from desktop.providers.base import Provider, Timeouts
from desktop.providers.classify import (
    classify_error_payload,
    classify_http_error,
    classify_transport_error,
    parse_retry_after,
)
from desktop.providers.ollama import OllamaProvider, PullProgress
from desktop.providers.openai_compat import (
    LMStudioProvider,
    OpenAICompatProvider,
    OpenAIProvider,
    OpenRouterProvider,
    compatible_provider_class,
)
from desktop.providers.presets import PRESETS, Preset, default_base_url, display_name, normalize_base_url, preset_for

__all__ = [
    "AnthropicProvider",
    "LMStudioProvider",
    "OllamaProvider",
    "OpenAICompatProvider",
    "OpenAIProvider",
    "OpenRouterProvider",
    "PRESETS",
    "Preset",
    "Provider",
    "PullProgress",
    "Timeouts",
    "classify_error_payload",
    "classify_http_error",
    "classify_transport_error",
    "default_base_url",
    "display_name",
    "make_provider",
    "normalize_base_url",
    "parse_retry_after",
    "preset_for",
    "provider_class",
]


def provider_class(kind: str) -> type[Provider]:
    """The Provider subclass for a kind (a preset name); MISCONFIGURED for an unknown one."""
    preset = preset_for(kind)
    if preset.protocol == "anthropic":
        return AnthropicProvider
    if preset.protocol == "ollama":
        return OllamaProvider
    return compatible_provider_class(kind)


def make_provider(
    kind: str,
    name: str,
    base_url: str | None,
    api_key: str | None,
    client: httpx.AsyncClient,
    timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, so one shared default is safe
) -> Provider:
    """Build the provider for ``kind``; ``base_url`` None or "" means the preset's default
    (Ollama: ``OLLAMA_HOST`` or 127.0.0.1:11434). The URL is normalised; a malformed one,
    or none for ``openai-compatible``, raises RouteDeskError(MISCONFIGURED)."""
    return provider_class(kind)(name, base_url, api_key, client, timeouts)
