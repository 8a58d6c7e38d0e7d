"""Plain typed values that cross layer boundaries.

They carry no behaviour beyond parsing and serialising, so every layer (router,
providers, storage, engine, UI) can share them without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal
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
    "TRUNCATED_REASONS",
    "FILTERED_REASONS",
    "same_model",
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
    #: The model the provider says answered, when it names another than the one asked
    #: for (a proxy's fallback: chunks that say ``"model": "gpt-4o-mini"`` for gpt-4o).
    served_model: str | None = None
    #: What the provider says the call cost in USD (OpenRouter's ``usage.cost``,
    #: LiteLLM's ``x-litellm-response-cost``); None when it says nothing.
    reported_cost: Decimal | None = None


#: End reasons that mean the answer was cut at its length limit (OpenAI and Ollama
#: ``length``, Anthropic ``max_tokens`` and ``model_context_window_exceeded``).
TRUNCATED_REASONS = frozenset({"length", "max_tokens", "model_context_window_exceeded"})
#: End reasons that mean a filter or the model itself withheld the rest (OpenAI
#: ``content_filter``, Anthropic ``refusal``).
FILTERED_REASONS = frozenset({"content_filter", "refusal"})

_DATED = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest|:latest)$")


def same_model(asked: str, named: str) -> bool:
    """Whether a model name a provider reports is the one asked for: a dated snapshot of it
    (gpt-4o -> gpt-4o-2024-08-06, claude-3-5-haiku-latest -> claude-3-5-haiku-20241022), or
    the same name with or without a vendor prefix (openai/gpt-4o) counts as the same."""
    def base(name: str) -> str:
        name = name.strip().lower()
        while True:
            cut = _DATED.sub("", name)
            if cut == name:
                return name
            name = cut

    a, n = base(asked), base(named)
    return a == n or a.rsplit("/", 1)[-1] == n.rsplit("/", 1)[-1]


StreamEvent = TextDelta | UsageReport | StreamEnd
