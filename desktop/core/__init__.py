"""Plain types, error kinds and paths shared by every layer.

The names below load on first use (PEP 562): importing a light submodule (``paths``,
``resources``) does not load the types and error kinds, so the window can show before them.
"""

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.core.errors import FALLBACK, RETRY_LIMIT, RETRYABLE, ErrorInfo, ErrorKind, RouteDeskError
    from desktop.core.fixes import Fix, FixAction
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
_FIXES = ("Fix", "FixAction")

__all__ = [
    "ChatMessage",
    "ErrorInfo",
    "ErrorKind",
    "FALLBACK",
    "Fix",
    "FixAction",
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


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    mod: ModuleType
    if name in _ERRORS:
        from desktop.core import errors as mod
    elif name in _FIXES:
        from desktop.core import fixes as mod
    else:
        from desktop.core import types as mod
    value: object = getattr(mod, name)
    globals()[name] = value
    return value
