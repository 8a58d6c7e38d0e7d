"""Plain types, error kinds and paths shared by every layer.

The names below load on first use (PEP 562): importing a light submodule (``paths``,
``resources``) does not load the types and error kinds, so the window can show before them.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.core.errors import FALLBACK, RETRY_LIMIT, RETRYABLE, ErrorInfo, ErrorKind, RouteDeskError
    from desktop.core.types import (
        ChatMessage,
        ModelInfo,
        ModelRef,
        RouteDecision,
        StreamEnd,
        StreamEvent,
        TextDelta,
        Usage,
        UsageReport,
    )

_ERRORS = ("FALLBACK", "RETRY_LIMIT", "RETRYABLE", "ErrorInfo", "ErrorKind", "RouteDeskError")

__all__ = [
    "ChatMessage",
    "ErrorInfo",
    "ErrorKind",
    "FALLBACK",
    "ModelInfo",
    "ModelRef",
    "RETRYABLE",
    "RETRY_LIMIT",
    "RouteDecision",
    "RouteDeskError",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "Usage",
    "UsageReport",
]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _ERRORS:
        from desktop.core import errors as mod
    else:
        from desktop.core import types as mod
    value = getattr(mod, name)
    globals()[name] = value
    return value
