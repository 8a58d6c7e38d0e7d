"""Plain types, error kinds and paths shared by every layer."""

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
