"""Prices and costs.

Order of authority, highest first: the user's override (always wins), zero for a
model that runs on this computer, genai-prices' bundled data, then the cost the provider
itself reported for the call (OpenRouter's ``usage.cost``, LiteLLM's
``x-litellm-response-cost``; applied per answer by ``MessageRun._bill``, source
"provider"), and otherwise "price unknown" — never a silent zero. Bundled prices are computed by genai-prices
itself from the reported usage, so tiered prices (long-context surcharges) are right.

genai-prices is imported by ``load_price_data`` only, on the first bundled price (or by
the window's warm-up): see there for what it leaves out.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from desktop.core.lazy_modules import stand_in
from desktop.core.types import ModelRef, Usage

if TYPE_CHECKING:
    from desktop.storage import Store

__all__ = ["Price", "PriceBook", "PriceSource", "MTOK", "load_price_data", "provider_id_for_kind"]

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


_load_lock = threading.Lock()


def load_price_data() -> ModuleType:
    """``import genai_prices`` without what only a price update uses.

    RouteDesk never starts genai-prices' price updates (``UpdatePrices``, which fetch a
    new table from the network), yet its import prepares them: a pydantic TypeAdapter
    that parses a fetched table (``_model_price_mapping_schema``: about 8 MB kept for the
    session and 40 ms of the first price) and its own HTTP client library (httpx2, about
    2.5 MB). Here the adapter is made with pydantic's own ``defer_build`` and the client
    library is imported at its first use: each is built the first time it is used, if
    ever, and every price is computed exactly as before. Adapters genai-prices makes with
    a config of their own, or for a type that has one, are made as it asks.
    """
    with _load_lock:
        if "genai_prices" in sys.modules:  # imported, or blocked (None): as Python would answer
            return importlib.import_module("genai_prices")
        import pydantic

        _load_on_first_use(_UPDATE_CLIENT)
        adapter = pydantic.TypeAdapter
        pydantic.TypeAdapter = _deferring(adapter)  # type: ignore[misc]
        try:
            import genai_prices  # a plain import statement: what the frozen build's analysis finds
        finally:
            pydantic.TypeAdapter = adapter  # type: ignore[misc]
        return genai_prices


def _deferring(adapter: Any) -> Any:
    """``pydantic.TypeAdapter`` with ``defer_build`` for adapters made without a config."""
    import pydantic

    def deferred(kind: Any, *args: Any, config: Any = None, **kwargs: Any) -> Any:
        if config is None and not args:
            try:  # a model with a config of its own refuses one: then as genai-prices asked
                return adapter(kind, config=pydantic.ConfigDict(defer_build=True), **kwargs)
            except pydantic.PydanticUserError:
                pass
        return adapter(kind, *args, config=config, **kwargs)

    return deferred


#: the HTTP client genai-prices' price updates use (``genai_prices.update_prices``)
_UPDATE_CLIENT = "httpx2"


def _load_on_first_use(name: str) -> None:
    """Make ``import name`` give a stand-in that imports the module at its first use."""
    module = stand_in(name)
    if module is not None:  # else loaded already, or not installed: genai-prices' own import says so
        sys.modules[name] = module


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
        genai_prices = load_price_data()
        try:
            return genai_prices.calc_price(
                genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
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
