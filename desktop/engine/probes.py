"""Probing providers: ``routedesk probe`` runs one round; the window runs the engine's
background HealthMonitor and asks it for a round on "Check now". Both go through here,
so the probe, its explanation and the cached model lists are the same everywhere."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from desktop.engine.health import HealthMonitor, HealthReport, probe_all
from desktop.engine.health_probe import _absent

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["ProbeService"]

log = logging.getLogger(__name__)


class ProbeService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    @property
    def monitor(self) -> HealthMonitor | None:
        """The background monitor when one is running."""
        mon = self._e.health
        return mon if mon is not None and mon.running else None

    def start_monitor(self, **kwargs: Any) -> HealthMonitor:
        """Start (or reuse) the engine's background monitor; the engine then skips
        providers the probes found down. ``kwargs`` go to HealthMonitor."""
        mon = self._e.health
        if mon is None:
            mon = HealthMonitor(self._e, **kwargs)
            self._e.health = mon
        mon.start()
        return mon

    async def stop_monitor(self, wait_s: float = 2.0) -> None:
        """Stop the monitor, bounded: quitting must never hang on a background probe."""
        mon = self._e.health
        if mon is None:
            return
        stopping = asyncio.ensure_future(mon.stop())
        done, _ = await asyncio.wait({stopping}, timeout=wait_s)
        if not done:
            log.warning("the health monitor did not stop within %.0f s; closing anyway", wait_s)
        elif stopping.exception() is not None:
            log.error("stopping the health monitor failed", exc_info=stopping.exception())

    async def run(self, only: str | None = None, *, deep: bool = False) -> list[HealthReport]:
        """Probe now (one provider or all); the running monitor's round when there is one.
        The model lists found are cached for the model pickers."""
        mon = self.monitor
        reports = await (mon.probe_now(only, deep=deep) if mon is not None
                         else probe_all(self._e, only=only, deep=deep))
        for r in reports:
            if r.model_names:
                self._e.providers_admin.cache_models(r.name, sorted(r.model_names))
        return reports

    def failing(self, reports: list[HealthReport], only: str | None = None) -> list[HealthReport]:
        """The reports that make ``routedesk probe`` fail: an unusable provider the user set
        up, uses (the strong/weak pair) or asked for by name. A local server RouteDesk only
        looks for (Ollama, LM Studio at their usual address) that isn't there, because it
        was never installed or isn't running, is reported but is nobody's problem."""
        configured = self._e.providers_admin.names()
        pair = self._e.pair()
        relied_on = configured | {ref.provider for ref in (pair.strong, pair.weak) if ref is not None}
        if only:
            relied_on.add(only)
        return [r for r in reports
                if r.status not in ("ok", "degraded") and (r.name in relied_on or not _absent(r))]
