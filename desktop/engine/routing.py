"""Turn a mode (auto / strong / weak / a named model) into a decision and the
ordered list of models to try.

The learned router (desktop.router) scores the conversation; until its weights are
present the engine uses a documented placeholder and says so in ``reason``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ChatMessage, ModelRef, RouteDecision

__all__ = ["Pair", "Plan", "RoutingSettings", "plan_route", "PLACEHOLDER_POLICY", "placeholder_decision"]

PLACEHOLDER_POLICY = "placeholder-length"
_PLACEHOLDER_LIMIT = 600  # characters in the last user message


@dataclass(frozen=True)
class Pair:
    strong: ModelRef | None
    weak: ModelRef | None

    def to_dict(self) -> dict:
        return {
            "strong": None if self.strong is None else str(self.strong),
            "weak": None if self.weak is None else str(self.weak),
        }


def _budget(value: object) -> Decimal | None:
    """A stored monthly budget, or None when it isn't a usable amount (a hand-edited or
    damaged setting must not stop messages from being sent)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (ArithmeticError, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


@dataclass(frozen=True)
class RoutingSettings:
    """The user's cost-quality control: a target share of strong calls, or a monthly budget."""

    policy: str = "share"  # "share" | "budget"
    target_share: float = 0.3
    monthly_budget_usd: Decimal | None = None

    @classmethod
    def from_dict(cls, d: dict) -> RoutingSettings:
        budget = d.get("monthly_budget_usd")
        share = d.get("target_share", 0.3)
        try:
            share = min(1.0, max(0.0, float(share)))
        except (TypeError, ValueError):
            share = 0.3
        budget = _budget(budget)
        return cls(
            policy="budget" if d.get("policy") == "budget" and budget is not None else "share",
            target_share=share,
            monthly_budget_usd=budget,
        )

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "target_share": self.target_share,
            "monthly_budget_usd": None if self.monthly_budget_usd is None else str(self.monthly_budget_usd),
        }


@dataclass(frozen=True)
class Plan:
    decision: RouteDecision
    candidates: tuple[ModelRef, ...]


def placeholder_decision(messages: Sequence[ChatMessage]) -> RouteDecision:
    """Placeholder policy: long prompts go to the strong model, short ones to the weak."""
    last = next((m.content for m in reversed(messages) if m.role == "user"), "")
    strong = len(last) > _PLACEHOLDER_LIMIT
    return RouteDecision(
        choice="strong" if strong else "weak",
        score=None,
        threshold=None,
        reason=(
            f"placeholder policy (no learned router loaded): the prompt is "
            f"{'longer' if strong else 'not longer'} than {_PLACEHOLDER_LIMIT} characters"
        ),
        policy=PLACEHOLDER_POLICY,
    )


def _no_pair(side: str) -> RouteDeskError:
    return RouteDeskError(
        ErrorKind.MISCONFIGURED,
        f"No {side} model is set, so RouteDesk does not know where to send this message.",
        Fix(FixAction.CHOOSE_MODELS, {"why": "no_pair"}),
    )


def plan_route(mode: str | ModelRef, pair: Pair, decide: Callable[[], RouteDecision]) -> Plan:
    """``decide`` is called only for ``auto`` and returns a RouteDecision.

    The other model of the pair is always the fallback, so a failing provider
    never ends the conversation while another one could answer.
    """
    if isinstance(mode, ModelRef):
        decision = RouteDecision("fixed", None, None, f"you chose {mode}", "fixed")
        order = [mode, pair.weak, pair.strong]
    elif mode in ("strong", "weak"):
        first = pair.strong if mode == "strong" else pair.weak
        if first is None:
            raise _no_pair(mode)
        decision = RouteDecision("fixed", None, None, f"you asked for the {mode} model", f"always-{mode}")
        order = [first, pair.weak if mode == "strong" else pair.strong]
    elif mode == "auto":
        if pair.strong is None and pair.weak is None:
            raise _no_pair("strong or weak")
        if pair.strong is None or pair.weak is None:
            only = pair.strong or pair.weak
            decision = RouteDecision(
                "strong" if pair.strong else "weak", None, None,
                f"only one model is set ({only}); set both to let RouteDesk route", "single",
            )
            order = [only]
        else:
            decision = decide()
            first, other = (pair.strong, pair.weak) if decision.choice == "strong" else (pair.weak, pair.strong)
            order = [first, other]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    seen: list[ModelRef] = []
    for ref in order:
        if ref is not None and ref not in seen:
            seen.append(ref)
    return Plan(decision, tuple(seen))
