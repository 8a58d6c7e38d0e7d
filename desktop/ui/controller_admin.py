"""The Settings and health half of the window's controller: providers and their keys,
prices, probes and pulls, each a call to the engine's services (``providers_admin``,
``price_admin``, ``probes``, ``pulls``). Mixed into ``AppController``, which owns the
signals and view models used here."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from desktop.core.errors import RouteDeskError
from desktop.core.types import ModelRef
from desktop.ui.models import ProviderHealth, PullProgress

__all__ = ["AdminActions", "health_from_report"]

log = logging.getLogger(__name__)


def health_from_report(r: Any) -> ProviderHealth:
    """The engine's HealthReport as the widget's model."""
    status = {"misconfigured": "down"}.get(r.status, r.status)
    words = {"ok": "is working", "degraded": "is slow or partly failing", "down": "is not working",
             "misconfigured": "needs setting up", "unknown": "has not been checked"}
    checked = datetime.fromtimestamp(r.checked_at) if r.checked_at else None
    return ProviderHealth(
        name=r.name, kind=r.kind, status=status, summary=f"{r.name} {words.get(r.status, r.status)}",
        explanation=r.explanation, fix=r.fix, models=list(r.model_names),
        local=bool(r.local), checked_at=checked, latency_ms=r.latency_ms,
    )


class AdminActions:
    """Needs ``engine``, ``routing``, ``health``, ``notice``, ``providers_changed``,
    ``_closed``, ``_unsubscribe``, ``load_routing`` and ``_models_changed`` from the controller."""

    engine: Any
    routing: Any
    health: Any
    notice: Any
    providers_changed: Any
    _closed: bool
    _unsubscribe: list

    def load_routing(self) -> None:  # the controller's
        raise NotImplementedError

    def _models_changed(self) -> None:  # the controller's
        raise NotImplementedError

    # --- providers and keys ------------------------------------------------------------
    def providers(self) -> list:
        """Configured providers (``ProviderInfo``), without reading the keyring."""
        return self.engine.providers_admin.list(with_keys=False)

    def get_provider(self, name: str) -> Any:
        return self.engine.providers_admin.get(name, with_key=False) if name else None

    def has_any_provider(self) -> bool:
        return bool(self.providers()) or self.routing.weak is not None or self.routing.strong is not None

    def env_keys(self) -> dict[str, str]:
        """Provider kind -> env var name, for keys present in the environment."""
        return self.engine.providers_admin.env_keys()

    def import_env_key(self, kind: str, name: str | None = None) -> str:
        saved = self.engine.providers_admin.import_env_key(kind, name)
        self.providers_changed.emit()
        return saved.info.name

    def save_provider(self, name: str, kind: str, base_url: str | None, key: str | None, *,
                      original: str | None = None, timeout_s: float | None = None) -> None:
        """Add or update a provider (``key`` None keeps the stored key); with ``original``
        a rename, whose key, pair and prices follow; ``timeout_s`` None means the default
        time limits. Raises RouteDeskError."""
        from desktop.engine.provider_admin import ProviderChange

        self.engine.providers_admin.save(ProviderChange(name, kind, base_url, key, rename_from=original,
                                                        timeout_s=timeout_s, clear_timeout=timeout_s is None))
        if original and original != name:
            self.load_routing()
        self.providers_changed.emit()

    def remove_provider(self, name: str, *, keep_key: bool = False) -> None:
        try:
            self.engine.providers_admin.remove(name, keep_key=keep_key)
        except RouteDeskError as err:
            self.notice.emit(err.message)
        self.providers_changed.emit()

    def stored_key(self, name: str) -> str | None:
        return self.engine.providers_admin.stored_key(name)

    def cached_models(self, name: str) -> list[str]:
        return self.engine.providers_admin.cached_models().get(name, [])

    async def test_connection(self, name: str, kind: str, base_url: str | None, key: str | None) -> Any:
        """The engine's ConnectionCheck (ok, message, fix, models) for unsaved settings."""
        check = await self.engine.providers_admin.test_connection(name, kind, base_url, key)
        if check.ok:
            self._models_changed()
        return check

    def cache_models(self, name: str, models: list[str]) -> None:
        self.engine.providers_admin.cache_models(name, list(models))
        self._models_changed()

    # --- prices ----------------------------------------------------------------------
    def price_rows(self, name: str, kind: str, models: list[str]) -> list[tuple[ModelRef, Any]]:
        return self.engine.price_admin.rows(name, kind, models)

    def set_price(self, ref: ModelRef, input_per_mtok: Decimal | str, output_per_mtok: Decimal | str) -> bool:
        """Override a price (the engine checks the amounts); False, with a notice, if refused."""
        try:
            o = self.engine.price_admin.set(ref, input_per_mtok, output_per_mtok)
        except RouteDeskError as err:
            self.notice.emit(f"{err.message} {err.fix}".strip())
            return False
        self.notice.emit(f"New price for {ref}: ${o.input_per_mtok}/M in, ${o.output_per_mtok}/M out. "
                         "The next message uses it.")
        return True

    def clear_price(self, ref: ModelRef) -> None:
        self.engine.price_admin.unset(ref)

    # --- health and local models --------------------------------------------------------
    def start_health_monitor(self, **kwargs: Any) -> bool:
        """Probe providers in the background with the engine's HealthMonitor and mirror
        its reports into ``self.health``; the engine also uses it to skip providers that
        are down."""
        if self._closed:
            return False
        mon = self.engine.probes.start_monitor(**kwargs)
        self._unsubscribe = [mon.subscribe(lambda _r: self._mirror_monitor()),
                             mon.subscribe_models(lambda _n, _m: self._mirror_monitor())]
        return True

    @property
    def monitor(self) -> Any:
        return self.engine.probes.monitor

    def _mirror_monitor(self) -> None:
        mon = self.monitor
        if mon is None or self._closed:
            return
        items = [health_from_report(r) for r in mon.reports()]
        local: list[str] = []
        for h in items:
            models = mon.models(h.name)
            if models is not None:
                h.models = sorted(m.ref.model for m in models)
            if h.local and h.status in ("ok", "degraded"):
                local.extend(h.models)
        self.health.set_all(items, local)

    async def check_health(self) -> None:
        """Probe every provider now (the monitor's round when it runs)."""
        self.health.checking = True
        self.health.changed.emit()
        try:
            reports = await self.engine.probes.run()
            if self.monitor is not None:
                self._mirror_monitor()
            else:
                items = [health_from_report(r) for r in reports]
                local = [m for h in items if h.local and h.status in ("ok", "degraded") for m in h.models]
                self.health.set_all(items, local)
            self._models_changed()
        finally:
            self.health.checking = False
            self.health.changed.emit()

    async def pull_model(self, model: str) -> None:
        """The engine's Ollama pull (as ``routedesk pull``), streamed into ``health.pull_progress``."""
        emit = self.health.pull_progress.emit
        try:
            await self.engine.pulls.pull(ModelRef("ollama", model),
                                         lambda p: emit(PullProgress(p.status, p.completed, p.total)))
        except RouteDeskError as err:
            emit(PullProgress("failed", done=True, error=f"{err.message} {err.fix}".strip()))
            return
        emit(PullProgress("success", done=True))
        self.notice.emit(f"Pulled {model}.")
        await self.check_health()

