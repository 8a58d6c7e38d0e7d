"""Health of every provider, known before the user presses send.

Probes are cheap calls that never spend money: the model list (and, for Ollama, its
version). Only a *deep* check, which the user asks for, sends one tiny completion; that
is the only way an exhausted OpenAI quota shows itself.

Each provider gets a ``HealthReport``: a status (``ok``, ``degraded``, ``down``,
``misconfigured``, ``unknown``), the latency of the probe, the time of the last
success, and an explanation with a fix in the words of DESIGN.md's error kinds. A few
problems are recognised here rather than in ``explain``: a wrong base URL (a 404 from
the models endpoint; the URL with ``/v1`` added or removed is tried and suggested), a
model of the strong/weak pair that the provider does not have (for Ollama: ``ollama
pull NAME``), and a local server that answers only under another loopback name.

``probe_all`` runs the probes once (``routedesk probe``). ``HealthMonitor`` runs them in
the background on the app's asyncio loop, with jitter, backoff while a provider is down,
an immediate re-probe on demand, and real traffic folded in (``record_success`` /
``record_failure``). Its clock, sleep and random seed are injectable, so tests drive it
without sleeping. Listeners are plain callables: nothing here knows about Qt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fixes import NO_FIX, Fix
from desktop.core.types import ModelInfo, ModelRef
from desktop.engine.discovery import LOCAL_PROVIDERS, DetailCache
from desktop.engine.health_probe import (
    PROBE_TIMEOUT,
    _absent,
    _who,
    probe_all,
    probe_provider,
    probe_targets,
    url_alternatives,
)
from desktop.engine.health_report import (
    STATUSES,
    UNUSABLE,
    HealthReport,
    skip_info,
    skip_reason,
    status_for,
)

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = [
    "STATUSES",
    "HealthReport",
    "HealthMonitor",
    "probe_all",
    "probe_provider",
    "probe_targets",
    "status_for",
    "skip_info",
    "skip_reason",
    "url_alternatives",
    "PROBE_TIMEOUT",
]

log = logging.getLogger(__name__)


# --- the background monitor ------------------------------------------------------------------


@dataclass
class _Slot:
    name: str
    optional: bool = False
    next_at: float = 0.0
    report: HealthReport | None = None
    models: list[ModelInfo] | None = None
    task: asyncio.Task | None = None
    rng: random.Random | None = None


Listener = Callable[[HealthReport], None]
ModelsListener = Callable[[str, list[ModelInfo]], None]


class HealthMonitor:
    """Probes every provider in the background.

    ``interval``/``local_interval``: seconds between probes of a healthy remote/local
    provider (local servers are cheap to ask, so models pulled or removed show up quickly).
    While a provider fails, the next probe comes after ``backoff_base`` seconds, doubling up
    to ``max_backoff`` (``local_max_backoff`` for local ones), or after the Retry-After the
    provider asked for. Every delay is multiplied by a factor drawn from
    ``[1 - jitter, 1 + jitter]`` (one ``random.Random`` per provider, seeded from ``seed``
    and its name, so a seed gives the same schedule whatever order probes finish in).

    ``clock`` (monotonic seconds) and ``sleep`` drive the schedule; ``wall`` stamps reports.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 60.0,
        local_interval: float = 10.0,
        backoff_base: float = 5.0,
        max_backoff: float = 300.0,
        local_max_backoff: float = 30.0,
        jitter: float = 0.1,
        seed: int | None = None,
        timeout: float = PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.local_interval = local_interval
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.local_max_backoff = local_max_backoff
        self.jitter = jitter
        self.timeout = timeout
        self._seed = seed
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._slots: dict[str, _Slot] = {}
        self._listeners: list[Listener] = []
        self._model_listeners: list[ModelsListener] = []
        self._cache = DetailCache()
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self.rounds = 0  # scheduler passes that probed something (for tests and the UI)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler on the running loop (idempotent). The first probes run at once."""
        if self._task is not None and not self._task.done():
            return
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="routedesk-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        pending = [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]
        tasks = ([task] if task is not None else []) + pending
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- what the engine and the UI ask ---------------------------------------------------

    def report(self, name: str) -> HealthReport | None:
        slot = self._slots.get(name)
        return None if slot is None else slot.report

    def reports(self, *, include_absent: bool = False) -> list[HealthReport]:
        out = []
        for s in self._slots.values():
            if s.report is None:
                continue
            if s.optional and _absent(s.report) and not include_absent:
                continue
            out.append(s.report)
        return out

    def models(self, name: str) -> list[ModelInfo] | None:
        """The models the last successful probe listed (None: not known)."""
        slot = self._slots.get(name)
        return None if slot is None else slot.models

    def is_down(self, name: str) -> HealthReport | None:
        """The report when ``name`` is known to be down or misconfigured, else None.

        The engine calls this before each attempt and skips the provider (recording the
        report's explanation as the attempt's reason) instead of waiting for a timeout.
        """
        slot = self._slots.get(name)
        if slot is None or slot.report is None or slot.report.usable:
            return None
        return slot.report

    def should_skip(self, ref: ModelRef) -> ErrorInfo | None:
        """``skip_info`` for ``ref`` when its provider is down, else None."""
        report = self.is_down(ref.provider)
        return None if report is None else skip_info(report, ref)

    def next_probe_in(self, name: str) -> float | None:
        slot = self._slots.get(name)
        return None if slot is None else max(0.0, slot.next_at - self._clock())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(report)`` after every probe and every status change from traffic.
        Returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe_models(self, listener: ModelsListener) -> Callable[[], None]:
        """Call ``listener(name, models)`` when the set of a provider's models changes
        (a model pulled or removed, a server started or stopped)."""
        self._model_listeners.append(listener)
        return lambda: self._model_listeners.remove(listener) if listener in self._model_listeners else None

    async def probe_now(self, name: str | None = None, *, deep: bool = False) -> list[HealthReport]:
        """Probe ``name`` (or every provider) now, whatever the schedule says; a probe
        already in flight is joined rather than repeated. Returns the fresh reports."""
        self._refresh_targets()
        if name is not None and name not in self._slots:
            self._slots[name] = _Slot(name, next_at=self._clock())
        slots = [self._slots[name]] if name is not None else list(self._slots.values())
        tasks = [self._ensure_probe(s, deep=deep) for s in slots]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poke()
        return [s.report for s in slots if s.report is not None]

    def forget(self, name: str) -> None:
        """A provider's settings or key changed: drop what is known and probe it soon."""
        slot = self._slots.get(name)
        if slot is not None:
            slot.report = None
            slot.next_at = self._clock()
        self._poke()

    # --- real traffic ----------------------------------------------------------------------

    def record_success(self, name: str, latency_ms: float | None = None) -> None:
        """A chat on ``name`` just worked: clear a failure at once."""
        slot = self._slot_for(name)
        now = self._wall()
        prev = slot.report or self._blank(name)
        if prev.status == "ok" or (prev.status == "degraded" and prev.missing_models and prev.error is None):
            slot.report = replace(prev, last_success=now)  # nothing new to tell listeners
            return
        status = "degraded" if prev.missing_models else "ok"
        slot.report = replace(
            prev, status=status, last_success=now, checked_at=now, source="traffic", failures=0,
            latency_ms=latency_ms if latency_ms is not None else prev.latency_ms,
            explanation=f"{_who(name, prev.kind)} answered a message just now." if status == "ok" else prev.explanation,
            fix=NO_FIX if status == "ok" else prev.fix, error=None,
            error_kind=None if status == "ok" else prev.error_kind,
        )
        slot.next_at = self._clock() + self._delay(slot, failed=False)
        self._notify(slot.report)
        self._poke()

    def record_failure(self, name: str, err: RouteDeskError | ErrorInfo) -> None:
        """A chat on ``name`` failed with ``err`` (already explained; an ``AttemptFailed``
        event's ``ErrorInfo`` will do): mark the provider at once when the error is about the
        provider (unreachable, key, quota, ...), and re-probe it soon."""
        try:
            kind = ErrorKind(err.kind)
        except ValueError:
            return
        status = status_for(kind, traffic=True)
        if status is None:
            return  # about one model or one message, not the provider
        info = err.info() if isinstance(err, RouteDeskError) else err
        retry_after = getattr(err, "retry_after", None)
        slot = self._slot_for(name)
        prev = slot.report or self._blank(name)
        now = self._wall()
        if prev.status in UNUSABLE and status not in UNUSABLE:
            return  # already known to be unusable, for a stronger reason; the next probe decides
        slot.report = replace(
            prev, status=status, checked_at=now, source="traffic", failures=prev.failures + 1,
            explanation=info.message, fix=info.fix, error_kind=kind.value, error=info,
            retry_after=retry_after,
        )
        delay = self._delay(slot, failed=True)
        if retry_after:
            delay = max(delay, float(retry_after))
        slot.next_at = self._clock() + delay
        self._notify(slot.report)
        self._poke()

    # --- internals --------------------------------------------------------------------------

    def _blank(self, name: str) -> HealthReport:
        try:
            s = self.engine.provider_settings(name)
            return HealthReport(name=name, kind=s.kind, base_url=s.base_url, local=s.local)
        except RouteDeskError:
            return HealthReport(name=name, kind="")

    def _slot_for(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = _Slot(name, next_at=self._clock())
        return slot

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()
        if self._idle is not None:
            self._idle.clear()  # until the scheduler has looked at the new state

    def _is_local(self, slot: _Slot) -> bool:
        if slot.report is not None:
            return slot.report.local
        return slot.name in LOCAL_PROVIDERS

    def _delay(self, slot: _Slot, *, failed: bool) -> float:
        local = self._is_local(slot)
        if failed:
            n = max(1, slot.report.failures if slot.report is not None else 1)
            cap = self.local_max_backoff if local else self.max_backoff
            base = min(self.backoff_base * (2 ** (n - 1)), cap)
        else:
            base = self.local_interval if local else self.interval
        if self.jitter:
            if slot.rng is None:  # one stream per provider: the order probes finish in doesn't matter
                slot.rng = random.Random(f"{self._seed}:{slot.name}") if self._seed is not None else random.Random()
            base *= 1 + slot.rng.uniform(-self.jitter, self.jitter)
        return base

    def _refresh_targets(self) -> None:
        try:
            targets = probe_targets(self.engine)
        except Exception:  # a closed store during shutdown, say
            log.debug("health: could not list providers", exc_info=True)
            return
        wanted = {t.name: t for t in targets}
        now = self._clock()
        for name, t in wanted.items():
            slot = self._slots.get(name)
            if slot is None:
                self._slots[name] = _Slot(name, optional=t.optional, next_at=now)
            else:
                slot.optional = t.optional
        for name in [n for n in self._slots if n not in wanted]:
            slot = self._slots.pop(name)
            if slot.task is not None and not slot.task.done():
                slot.task.cancel()

    def _ensure_probe(self, slot: _Slot, *, deep: bool = False) -> asyncio.Task:
        if slot.task is not None and not slot.task.done():
            return slot.task
        slot.task = asyncio.get_running_loop().create_task(self._probe(slot, deep), name=f"probe-{slot.name}")
        return slot.task

    async def _probe(self, slot: _Slot, deep: bool) -> HealthReport:
        try:
            report, models = await probe_provider(
                self.engine, slot.name, deep=deep, previous=slot.report, cache=self._cache,
                timeout=self.timeout, wall=self._wall,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the monitor
            log.exception("health probe of %s failed", slot.name)
            report, models = replace(
                slot.report or self._blank(slot.name), status="unknown", checked_at=self._wall(),
                explanation=f"Checking {slot.name} failed unexpectedly ({type(exc).__name__}).",
                fix=Fix.note("RouteDesk will try again."),
            ), None
        failed = not report.usable or report.error is not None
        slot.report = report
        slot.next_at = self._clock() + self._delay(slot, failed=failed)
        if failed and report.error is not None and report.retry_after:
            slot.next_at = max(slot.next_at, self._clock() + float(report.retry_after))
        self._set_models(slot, models, report)
        self._poke()  # the scheduler recomputes its next wake-up
        self._notify(report)
        return report

    def _set_models(self, slot: _Slot, models: list[ModelInfo] | None, report: HealthReport) -> None:
        if models is None:
            if report.status in UNUSABLE and report.error_kind in (ErrorKind.UNREACHABLE.value,) and slot.models:
                slot.models = []  # the server went away: its models with it
                self._notify_models(slot.name, [])
            return
        before = None if slot.models is None else sorted(str(m.ref) for m in slot.models)
        slot.models = list(models)
        after = sorted(str(m.ref) for m in models)
        if before != after:
            self._notify_models(slot.name, slot.models)

    def _notify(self, report: HealthReport) -> None:
        for listener in list(self._listeners):
            try:
                listener(report)
            except Exception:
                log.exception("health listener failed")

    def _notify_models(self, name: str, models: list[ModelInfo]) -> None:
        for listener in list(self._model_listeners):
            try:
                listener(name, list(models))
            except Exception:
                log.exception("health models listener failed")

    async def _run(self) -> None:
        """Launch the probes that are due (each its own task, so one slow provider never
        delays the others), then sleep until the next one is due or something wakes us
        (a probe finishing, ``probe_now``, ``forget``, real traffic)."""
        assert self._wake is not None and self._idle is not None
        while True:
            self._refresh_targets()
            now = self._clock()
            waiting = [s for s in self._slots.values() if s.task is None or s.task.done()]
            due = [s for s in waiting if s.next_at <= now]
            if due:
                self.rounds += 1
                for s in due:
                    self._ensure_probe(s)
                waiting = [s for s in waiting if s not in due]
            next_at = min((s.next_at for s in waiting), default=None)
            self._wake.clear()
            try:
                await self._wait(None if next_at is None else max(0.0, next_at - now),
                                 idle=len(waiting) == len(self._slots))
            finally:
                self._idle.clear()

    async def wait_idle(self) -> None:
        """Return once no probe is running and the scheduler is waiting for the next one
        (for tests, and for a UI that wants to show "checking…" until then)."""
        if self._idle is None:
            raise RuntimeError("the monitor is not running; call start() first")
        await self._idle.wait()

    async def _wait(self, seconds: float | None, *, idle: bool) -> None:
        assert self._wake is not None and self._idle is not None
        waker = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[Any]] = {waker}
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self._sleep(seconds)))
        try:
            await asyncio.sleep(0)  # let the sleep start (an injected clock takes its deadline now)
            if idle and not self._wake.is_set():
                self._idle.set()
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancel, don't await: awaiting here could swallow a cancellation of the scheduler itself.
            for t in tasks:
                if not t.done():
                    t.cancel()
