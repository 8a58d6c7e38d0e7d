"""The user's routing choices: the strong/weak pair (``routedesk use``, Settings), the
cost-quality control (a target share of strong calls or a monthly budget; the routing
bar) and the window's send mode (auto, strong, weak or a named model)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelRef
from desktop.engine.routing import Pair, RoutingSettings

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["RoutingAdmin", "MODE_SETTING", "MODES", "parse_ref"]

MODE_SETTING = "ui.mode"
MODES = ("auto", "strong", "weak")


def parse_ref(text: str) -> ModelRef:
    """PROVIDER/MODEL from the user, or a plain-words error."""
    try:
        return ModelRef.parse(text)
    except ValueError as exc:
        raise RouteDeskError(ErrorKind.MISCONFIGURED, str(exc),
                             "Write it as PROVIDER/MODEL, for example work/gpt-4o-mini.") from None


class RoutingAdmin:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    def pair(self) -> Pair:
        return self._e.pair()

    def set_pair(self, strong: ModelRef | None, weak: ModelRef | None) -> Pair:
        """Set both sides; a model of a provider that does not exist is a clear error."""
        for ref in (strong, weak):
            if ref is not None:
                self._e.provider_settings(ref.provider)
        self._e.set_pair(strong, weak)
        return self._e.pair()

    def update_pair(self, *, strong: ModelRef | None = None, weak: ModelRef | None = None) -> Pair:
        """Change one side or both; None keeps that side."""
        if strong is None and weak is None:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "Say which models to use.",
                                 Fix(FixAction.CHOOSE_MODELS, {"why": "no_pair"}))
        pair = self._e.pair()
        return self.set_pair(strong or pair.strong, weak or pair.weak)

    def settings(self) -> RoutingSettings:
        return self._e.routing_settings()

    def set_policy(self, control: str, *, target_share: float | None = None,
                   monthly_usd: Decimal | None = None) -> RoutingSettings:
        """"share" (a target share of strong calls, clamped to 0..1) or "budget" (a
        monthly amount the policy paces); unspecified values keep what was set."""
        cur = self._e.routing_settings()
        share = cur.target_share if target_share is None else max(0.0, min(1.0, float(target_share)))
        budget = cur.monthly_budget_usd if monthly_usd is None else monthly_usd
        settings = RoutingSettings.from_dict({
            "policy": control, "target_share": share,
            "monthly_budget_usd": None if budget is None else str(budget),
        })
        self._e.set_routing_settings(settings)
        return settings

    def mode(self) -> str | ModelRef:
        raw = self._e.store.get_setting(MODE_SETTING, "auto")
        if isinstance(raw, str) and "/" in raw:
            try:
                return ModelRef.parse(raw)
            except ValueError:
                return "auto"
        return raw if raw in MODES else "auto"

    def set_mode(self, mode: str | ModelRef) -> None:
        if not isinstance(mode, ModelRef) and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self._e.store.set_setting(MODE_SETTING, str(mode))
