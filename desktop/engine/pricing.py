"""Prices and costs.

Order of authority, highest first: the user's override (always wins), zero for a
model that runs on this computer, genai-prices' bundled data, then the cost the provider
itself reported for the call (OpenRouter's ``usage.cost``, LiteLLM's
``x-litellm-response-cost``; applied per answer by ``MessageRun._bill``, source
"provider"), and otherwise "price unknown" — never a silent zero. Bundled prices are computed by genai-prices
itself from the reported usage, so tiered prices (long-context surcharges) are right.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from desktop.core.types import ModelRef, Usage

if TYPE_CHECKING:
    from desktop.storage import Store

__all__ = ["Price", "PriceBook", "PriceSource", "MTOK", "provider_id_for_kind"]

PriceSource = Literal["override", "local", "bundled", "provider", "unknown"]
MTOK = Decimal(1_000_000)

#: genai-prices' provider ids for our provider kinds; other kinds let it infer the
#: provider from the model name (deepseek-chat, mistral-large-latest, ...).
_GENAI_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "groq": "groq",
    "together": "together",
    "deepseek": "deepseek",
    "mistral": "mistral",
}


def provider_id_for_kind(kind: str | None) -> str | None:
    return _GENAI_PROVIDER.get(kind or "")


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and where the figure comes from."""

    input_per_mtok: Decimal | None
    output_per_mtok: Decimal | None
    source: PriceSource

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def label(self) -> str:
        if self.source == "local":
            return "free (runs on this computer)"
        if self.source == "unknown":
            return "price unknown"
        origin = "your override" if self.source == "override" else "bundled"
        return f"${self.input_per_mtok}/M in, ${self.output_per_mtok}/M out ({origin})"

    def to_dict(self) -> dict:
        return {
            "input_usd_per_mtok": None if self.input_per_mtok is None else str(self.input_per_mtok),
            "output_usd_per_mtok": None if self.output_per_mtok is None else str(self.output_per_mtok),
            "source": self.source,
        }


class PriceBook:
    """Answers "what does this model cost" against the store's overrides.

    It reads overrides on every call (a primary-key lookup) so an edit made a moment
    ago, in this process or another, is what the very next message pays.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def price(self, ref: ModelRef, *, provider_kind: str | None, local: bool) -> Price:
        override = self._store.get_price_override(ref)
        if override is not None:
            return Price(Decimal(override.input_per_mtok), Decimal(override.output_per_mtok), "override")
        if local:
            return Price(Decimal(0), Decimal(0), "local")
        return _bundled_rate(ref, provider_kind)

    def cost(
        self, ref: ModelRef, usage: Usage, *, provider_kind: str | None, local: bool
    ) -> tuple[Decimal | None, Price]:
        """The exact cost of ``usage`` (None when the price is unknown)."""
        price = self.price(ref, provider_kind=provider_kind, local=local)
        if price.source in ("override", "local"):
            assert price.input_per_mtok is not None and price.output_per_mtok is not None
            cost = (price.input_per_mtok * usage.input_tokens + price.output_per_mtok * usage.output_tokens) / MTOK
            return cost, price
        if price.source == "unknown":
            return None, price
        calc = self._bundled(ref, provider_kind, usage)
        return (Decimal(calc.total_price) if calc is not None else None), price

    @staticmethod
    def _bundled(ref: ModelRef, provider_kind: str | None, usage: Usage) -> Any:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price

        try:
            return calc_price(
                GUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
                model_ref=ref.model,
                provider_id=provider_id_for_kind(provider_kind),
            )
        except (LookupError, ValueError):
            return None


@lru_cache(maxsize=512)
def _bundled_rate(ref: ModelRef, provider_kind: str | None) -> Price:
    """The bundled display rate, or unknown. genai-prices' data is fixed for the process and
    a lookup costs about a millisecond; every answer asks twice (its model, the strong one)."""
    calc = PriceBook._bundled(ref, provider_kind, Usage(1_000, 1_000))
    if calc is None:
        return Price(None, None, "unknown")
    mp = calc.model_price
    return Price(_base_rate(mp.input_mtok), _base_rate(mp.output_mtok), "bundled")


def _base_rate(value: Any) -> Decimal | None:
    """genai-prices gives a number or a tiered price; the base tier is the display rate."""
    if value is None:
        return Decimal(0)
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    base = getattr(value, "base", None)
    return Decimal(str(base)) if base is not None else None
