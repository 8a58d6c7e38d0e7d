"""Plain typed values that cross layer boundaries.

They carry no behaviour beyond parsing and serialising, so every layer (router,
providers, storage, engine, UI) can share them without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "ChatMessage",
    "ModelRef",
    "Usage",
    "ModelInfo",
    "RouteDecision",
    "TextDelta",
    "UsageReport",
    "StreamEnd",
    "StreamEvent",
]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, order=True)
class ModelRef:
    """``PROVIDER/MODEL``; the model part may itself contain slashes (OpenRouter's
    ``openai/gpt-4o``), so only the first slash separates the provider's name."""

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        provider, sep, model = text.strip().partition("/")
        if not sep or not provider or not model:
            raise ValueError(
                f"{text!r} is not PROVIDER/MODEL (for example work/gpt-4o-mini)"
            )
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them; never estimated."""

    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """A model a provider offers. Local details are filled where the API tells them."""

    ref: ModelRef
    local: bool = False
    size_bytes: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    context_length: int | None = None


@dataclass(frozen=True)
class RouteDecision:
    """Why a message went where it went; stored with every answer and shown beside it.

    ``choice`` is ``strong``, ``weak`` or ``fixed`` (the user named a model or forced a side).
    ``reasons`` are short human phrases (the features that pushed the score most).
    """

    choice: Literal["strong", "weak", "fixed"]
    score: float | None
    threshold: float | None
    reason: str
    policy: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "score": self.score,
            "threshold": self.threshold,
            "reason": self.reason,
            "policy": self.policy,
            "reasons": list(self.reasons),
        }


# --- what a provider's stream yields -------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class UsageReport:
    usage: Usage


@dataclass(frozen=True)
class StreamEnd:
    """The provider's own end marker was seen ([DONE], message_stop, done: true).

    A stream that stops without one is ``interrupted``, never complete.
    """

    finish_reason: str | None = None


StreamEvent = TextDelta | UsageReport | StreamEnd
