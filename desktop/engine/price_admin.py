"""The user's price overrides (``routedesk pricing``, the Settings price table) and the
price rows shown for a provider's models."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.engine.pricing import Price
from desktop.providers import PRESETS
from desktop.storage import PriceOverride

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["PriceAdmin", "parse_usd"]

_MAX_PRICE = Decimal(100_000)


def parse_usd(value: str | Decimal, what: str) -> Decimal:
    """A price from the user: a finite, non-negative number of dollars per million tokens."""
    amount: Decimal | None
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except (InvalidOperation, AttributeError):
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount > _MAX_PRICE:
        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{value!r} is not a usable {what} price.",
            "Give US dollars per million tokens as a plain number, for example 0.15 or 2.5.",
        )
    return amount


class PriceAdmin:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    def set(self, ref: ModelRef, input_per_mtok: str | Decimal, output_per_mtok: str | Decimal) -> PriceOverride:
        """Override a model's price; the very next message pays it."""
        inp = parse_usd(input_per_mtok, "input")
        out = parse_usd(output_per_mtok, "output")
        self._e.store.set_price_override(ref, inp, out)
        found = self._e.store.get_price_override(ref)
        assert found is not None
        return found

    def unset(self, ref: ModelRef) -> bool:
        """Back to the bundled price; False when there was no override."""
        return self._e.store.delete_price_override(ref)

    def overrides(self) -> list[PriceOverride]:
        return self._e.store.list_price_overrides()

    def rows(self, provider: str, kind: str, models: list[str]) -> list[tuple[ModelRef, Price]]:
        """Each model of an (unsaved) provider of ``kind`` with the price it would pay."""
        local = bool(PRESETS[kind].local) if kind in PRESETS else False
        return [(ModelRef(provider, m), self._e.prices.price(ModelRef(provider, m), provider_kind=kind, local=local))
                for m in models]
