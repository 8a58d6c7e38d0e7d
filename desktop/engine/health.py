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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fixes import NO_FIX, Fix, FixAction
from desktop.core.types import ChatMessage, ModelInfo, ModelRef, StreamEnd
from desktop.engine.discovery import LOCAL_PROVIDERS, DetailCache, discover_one, same_model
from desktop.providers.presets import PRESETS

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

STATUSES = ("ok", "degraded", "down", "misconfigured", "unknown")
#: Statuses under which a call to the provider is expected to fail: the engine skips it.
_UNUSABLE = ("down", "misconfigured")

_OLLAMA_DEFAULT = PRESETS["ollama"].base_url or ""

#: One probe may take this long before it counts as a timeout.
PROBE_TIMEOUT = 10.0

#: Probe outcome -> status. A kind missing here does not change a provider's status
#: (it is about one model or one message, not the provider).
_PROBE_STATUS: dict[ErrorKind, str] = {
    ErrorKind.UNREACHABLE: "down",
    ErrorKind.TIMEOUT: "down",
    ErrorKind.QUOTA_EXHAUSTED: "down",
    ErrorKind.AUTH_INVALID: "misconfigured",
    ErrorKind.MISCONFIGURED: "misconfigured",
    ErrorKind.RATE_LIMITED: "degraded",
    ErrorKind.OVERLOADED: "degraded",
    ErrorKind.SERVER_ERROR: "degraded",
    ErrorKind.BAD_RESPONSE: "degraded",
    ErrorKind.INTERRUPTED: "degraded",
    ErrorKind.MODEL_NOT_FOUND: "misconfigured",  # on the models endpoint: the address is wrong
}
#: Real traffic is noisier: a slow answer or a broken stream says less about the provider.
_TRAFFIC_STATUS: dict[ErrorKind, str] = {
    ErrorKind.UNREACHABLE: "down",
    ErrorKind.QUOTA_EXHAUSTED: "down",
    ErrorKind.AUTH_INVALID: "misconfigured",
    ErrorKind.MISCONFIGURED: "misconfigured",
    ErrorKind.TIMEOUT: "degraded",
    ErrorKind.RATE_LIMITED: "degraded",
    ErrorKind.OVERLOADED: "degraded",
    ErrorKind.SERVER_ERROR: "degraded",
    ErrorKind.BAD_RESPONSE: "degraded",
}
#: After this many failed probes in a row, a degraded provider counts as down.
DOWN_AFTER = 3


def status_for(kind: ErrorKind | str, *, traffic: bool = False) -> str | None:
    """The provider status an error of ``kind`` implies (None: it says nothing about the provider)."""
    table = _TRAFFIC_STATUS if traffic else _PROBE_STATUS
    return table.get(ErrorKind(kind))


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class HealthReport:
    """What RouteDesk knows about one provider right now."""

    name: str
    kind: str
    status: str = "unknown"
    latency_ms: float | None = None
    last_success: float | None = None  # wall-clock seconds (time.time())
    checked_at: float | None = None  # wall-clock seconds of the last probe or call
    explanation: str = "Not checked yet."
    fix: Fix = NO_FIX
    error_kind: str | None = None
    models: int | None = None
    version: str | None = None
    base_url: str | None = None
    suggested_base_url: str | None = None
    local: bool = False
    source: str = "probe"  # probe | deep | traffic
    missing_models: tuple[str, ...] = ()
    failures: int = 0  # failed probes in a row
    error: ErrorInfo | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait
    model_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fix", Fix.coerce(self.fix))  # a sentence reads as a note

    @property
    def usable(self) -> bool:
        return self.status not in _UNUSABLE

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "last_success": _iso(self.last_success),
            "checked_at": _iso(self.checked_at),
            "explanation": self.explanation,
            "fix": self.fix.to_json(),
            "error_kind": self.error_kind,
            "models": self.models,
            "version": self.version,
            "base_url": self.base_url,
            "suggested_base_url": self.suggested_base_url,
            "local": self.local,
            "source": self.source,
            "missing_models": list(self.missing_models),
            "failures": self.failures,
            "error": None if self.error is None else self.error.to_dict(),
        }


def skip_info(report: HealthReport, ref: ModelRef) -> ErrorInfo:
    """The attempt the engine records when it skips ``ref`` because its provider is down."""
    kind = report.error_kind or ErrorKind.UNREACHABLE.value
    return ErrorInfo(
        kind=kind,
        message=f"Skipped {ref}: {report.explanation}",
        fix=report.fix.without_fallback() or Fix.note("RouteDesk checks it again in the background."),
        provider=ref.provider,
        model=ref.model,
        status=None if report.error is None else report.error.status,
        code="health_" + report.status,
    )


def skip_reason(monitor: HealthMonitor | None, ref: ModelRef,
                candidates: Iterable[ModelRef] = ()) -> ErrorInfo | None:
    """What the engine asks before trying ``ref``: the attempt to record if it should be
    skipped because its provider is known to be down, else None.

    When every candidate's provider is down, nothing is skipped: health may be a few
    seconds stale, and trying beats failing without trying. ``monitor`` may be None (the
    command line runs without a monitor), which skips nothing.
    """
    if monitor is None:
        return None
    info = monitor.should_skip(ref)
    if info is None:
        return None
    others = list(candidates)
    if others and all(monitor.is_down(c.provider) is not None for c in others):
        return None
    return info


# --- probing one provider ------------------------------------------------------------------


def _display(kind: str | None) -> str:
    from desktop.providers import display_name

    return display_name(kind)


def _who(name: str, kind: str | None) -> str:
    from desktop.providers.classify import who

    return who(name, kind)


def _explained(err: RouteDeskError, kind: str | None, base_url: str | None) -> RouteDeskError:
    from desktop.engine.explain import explain

    try:
        return explain(err, provider_kind=kind or "", base_url=base_url, fallback=None)
    except Exception:  # explain never raises by contract; a probe must not either
        return err


def url_alternatives(base_url: str) -> list[str]:
    """Addresses worth trying after a 404 from the models endpoint: a doubled ``/v1``
    collapsed, ``/v1`` removed, ``/v1`` added."""
    url = base_url.rstrip("/")
    out: list[str] = []
    if url.endswith("/v1/v1"):
        out.append(url[: -len("/v1")])
    if url.endswith("/v1"):
        out.append(url[: -len("/v1")])
    else:
        out.append(url + "/v1")
    seen: list[str] = []
    for u in out:
        if u and u not in seen and u != url and "://" in u and u.split("://", 1)[1]:
            seen.append(u)
    return seen


async def _suggest_base_url(provider, timeout: float) -> str | None:
    """Try the alternatives with the same client and key; return the first that lists models."""
    for alt in url_alternatives(provider.base_url):
        candidate = provider.with_base_url(alt)
        try:
            async with asyncio.timeout(timeout):
                await candidate.list_models()
        except TimeoutError:
            continue
        except RouteDeskError as err:
            if err.kind in _API_IS_THERE and err.status != 404:
                return alt  # the API is at this address; it only wants a (valid) key
            continue
        return alt
    return None


#: Answers that prove an API lives at an address even though the call failed.
_API_IS_THERE = {ErrorKind.AUTH_INVALID, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED}


def _fix_base_url(name: str, kind: str, alt: str, needs_key: bool) -> Fix:
    return Fix(FixAction.SET_BASE_URL, {"provider": name, "kind": kind, "base_url": alt,
                                        "needs_key": "yes" if needs_key else "no"})


def _timeout_error(name: str, kind: str, timeout: float) -> RouteDeskError:
    return RouteDeskError(
        ErrorKind.TIMEOUT,
        f"{_who(name, kind)} didn't answer a model-list request within {timeout:.0f} s.",
        Fix(FixAction.CHECK_NETWORK, {"provider": name, "kind": kind,
                                      "hint": "if the provider is slow right now, RouteDesk keeps checking"}),
        provider=name,
        code="probe_timeout",
    )


def _pick_deep_model(engine, name: str, kind: str, models: list[ModelInfo]) -> str | None:
    pair = engine.pair()
    for ref in (pair.weak, pair.strong):
        if ref is not None and ref.provider == name:
            return ref.model
    names = [m.ref.model for m in models]
    for cheap in ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4.1-mini", "claude-3-5-haiku-latest", "claude-haiku-4-5"):
        if cheap in names:
            return cheap
    local = kind in LOCAL_PROVIDERS.values()
    return names[0] if (local and names) else None


async def _deep_check(provider, model: str, timeout: float) -> None:
    """One tiny completion (a few input tokens, one output token)."""
    async with asyncio.timeout(timeout):
        ended = False
        async for event in provider.stream_chat(model, [ChatMessage("user", "Reply with OK.")], max_tokens=1):
            if isinstance(event, StreamEnd):
                ended = True
        if not ended:
            raise RouteDeskError(ErrorKind.INTERRUPTED, "The test answer stopped before its end.", provider=provider.name,
                                 model=model)


async def probe_provider(
    engine,
    name: str,
    *,
    deep: bool = False,
    previous: HealthReport | None = None,
    cache: DetailCache | None = None,
    timeout: float = PROBE_TIMEOUT,
    wall: Callable[[], float] = time.time,
) -> tuple[HealthReport, list[ModelInfo] | None]:
    """Probe one provider; return its report and the models it listed (None when it failed).

    Never raises a RouteDeskError: every failure ends up in the report.
    """
    now = wall()
    last_success = previous.last_success if previous is not None else None
    failures = previous.failures if previous is not None else 0
    try:
        settings = engine.provider_settings(name)
    except RouteDeskError as err:
        return HealthReport(
            name=name, kind="", status="misconfigured", checked_at=now, explanation=err.message, fix=err.fix,
            error_kind=err.kind.value, error=err.info(), failures=failures + 1, last_success=last_success,
        ), None
    kind, base_url, local = settings.kind, settings.base_url, settings.local
    base = dict(name=name, kind=kind, base_url=base_url, local=local, checked_at=now, last_success=last_success,
                source="deep" if deep else "probe")

    def failed(err: RouteDeskError, *, latency: float | None = None, suggested: str | None = None,
               explanation: str | None = None, fix: Fix | None = None) -> HealthReport:
        status = status_for(err.kind) or "degraded"
        n = failures + 1
        if status == "degraded" and n >= DOWN_AFTER:
            status = "down"
        if explanation is None:
            e = _explained(err, kind, base_url)
        else:
            e = err
            e.message, e.fix = explanation, fix or NO_FIX
        return HealthReport(
            **base, status=status, latency_ms=latency, explanation=e.message, fix=e.fix, error_kind=err.kind.value, error=e.info(), failures=n,
            suggested_base_url=suggested, retry_after=err.retry_after,
        )

    version = None
    note = note_fix = None
    started = time.perf_counter()
    try:
        if local:
            found = await discover_one(engine, name, details=True, cache=cache, timeout=timeout)
            if not found.found:
                raise found.error or RouteDeskError(
                    ErrorKind.UNREACHABLE, f"{_display(kind)} isn't running.", provider=name)
            models, version, note, note_fix = found.models, found.version, found.note, found.note_fix
            latency = found.latency_ms
            if found.moved:
                base["suggested_base_url"] = found.base_url
        else:
            provider = engine.provider(name)
            try:
                async with asyncio.timeout(timeout):
                    models = await provider.list_models()
            except TimeoutError:
                raise _timeout_error(name, kind, timeout) from None
            latency = round((time.perf_counter() - started) * 1000, 1)
    except RouteDeskError as err:
        latency = round((time.perf_counter() - started) * 1000, 1)
        if err.status == 404 and kind == "ollama":
            wrong = RouteDeskError(ErrorKind.MISCONFIGURED, err.message, err.fix, provider=name, status=404,
                                   code="not_ollama", detail=err.detail)
            return failed(
                wrong, latency=latency,
                explanation=(f"Something answers at {base_url}, but it isn't Ollama's API "
                             "(404 Not Found for /api/version)."),
                fix=Fix(FixAction.OPEN_PROVIDER_SETTINGS, {
                    "provider": name, "kind": kind, "base_url": base_url or "",
                    "lead": "Point OLLAMA_HOST (or this provider's base URL) at Ollama itself",
                    "usually": "a bare host and port such as", "example": _OLLAMA_DEFAULT,
                    "hint": "with nothing after it"}),
            ), None
        if err.status == 404:
            try:
                provider = engine.provider(name)
                alt = await _suggest_base_url(provider, timeout)
            except RouteDeskError:
                alt = None
            if alt is not None:
                wrong = RouteDeskError(ErrorKind.MISCONFIGURED, err.message, err.fix, provider=name, status=404,
                                       code="wrong_base_url")
                return failed(
                    wrong, latency=latency, suggested=alt,
                    explanation=(f"{_who(name, kind)} answered 404 Not Found at {base_url}: that isn't the API's "
                                 f"address. It does answer at {alt}."),
                    fix=_fix_base_url(name, kind, alt, settings.preset.needs_key),
                ), None
            wrong = RouteDeskError(ErrorKind.MISCONFIGURED, err.message, err.fix, provider=name, status=404,
                                   code="wrong_base_url", detail=err.detail)
            return failed(
                wrong, latency=latency,
                explanation=(f"{_who(name, kind)} answered 404 Not Found for its model list at {base_url}: "
                             "the base URL is probably wrong."),
                fix=Fix(FixAction.OPEN_PROVIDER_SETTINGS, {
                    "provider": name, "kind": kind, "base_url": base_url or "",
                    "usually": "OpenAI-compatible APIs usually end in /v1, for example",
                    "example": f"{PRESETS['openai'].base_url} or {PRESETS['lmstudio'].base_url}"}),
            ), None
        return failed(err, latency=latency), None

    names = tuple(m.ref.model for m in models)
    if note is not None:  # it answers, but not where chats will go
        report = HealthReport(
            **{**base, "last_success": last_success}, status="misconfigured", latency_ms=latency,
            explanation=note, fix=Fix.coerce(note_fix),
            error_kind=ErrorKind.MISCONFIGURED.value, models=len(models), version=version, model_names=names,
            failures=failures + 1,
        )
        return report, models

    # Reachable: is every model the pair names on this provider actually there?
    pair = engine.pair()
    missing = []
    for ref in (pair.strong, pair.weak):
        if ref is not None and ref.provider == name and not any(same_model(ref.model, n) for n in names):
            if ref.model not in missing:
                missing.append(ref.model)

    ok_report = HealthReport(
        **{**base, "last_success": now}, status="ok", latency_ms=latency,
        explanation=_ok_sentence(name, kind, version, len(models), latency), fix=NO_FIX,
        models=len(models), version=version, model_names=names, failures=0,
    )
    if missing:
        ok_report = replace(ok_report, status="degraded", missing_models=tuple(missing),
                            error_kind=ErrorKind.MODEL_NOT_FOUND.value,
                            **_missing_sentence(name, kind, missing))

    if deep:
        model = _pick_deep_model(engine, name, kind, models)
        if model is None:
            return replace(ok_report, explanation=ok_report.explanation + " No model to test with.",
                           fix=Fix(FixAction.CHOOSE_MODELS, {"provider": name, "kind": kind, "why": "no_pair"})), models
        try:
            await _deep_check(engine.provider(name), model, timeout)
        except TimeoutError:
            return failed(_timeout_error(name, kind, timeout)), models
        except RouteDeskError as err:
            if err.model is None:
                err.model = model
            if err.kind in (ErrorKind.MODEL_NOT_FOUND, ErrorKind.CONTEXT_TOO_LONG, ErrorKind.CONTENT_FILTERED):
                e = _explained(err, kind, base_url)
                return replace(ok_report, status="degraded", error_kind=err.kind.value, explanation=e.message,
                               fix=e.fix, error=e.info()), models
            report = failed(err)
            return replace(report, models=len(models), model_names=names, version=version), models
        ok_report = replace(ok_report, explanation=ok_report.explanation + f" A test answer from {model} worked.")
    return ok_report, models


def _ok_sentence(name: str, kind: str, version: str | None, n: int, latency: float | None) -> str:
    who = _who(name, kind) + (f" {version}" if version else "")
    ms = f" in {latency:.0f} ms" if latency is not None else ""
    if kind in LOCAL_PROVIDERS.values():
        return f"{who} is running with {n} model{'s' if n != 1 else ''}{ms and ' (answered' + ms + ')'}."
    return f"{who} is working: it listed {n} model{'s' if n != 1 else ''}{ms}."


def _missing_sentence(name: str, kind: str, missing: list[str]) -> dict[str, Any]:
    listed = ", ".join(missing)
    about = {"provider": name, "kind": kind, "model": missing[0]}
    if kind == "ollama":
        return {
            "explanation": f"{_who(name, kind)} is running, but {listed} isn't downloaded yet.",
            "fix": Fix(FixAction.PULL_MODEL, about),
        }
    if kind == "lmstudio":
        return {
            "explanation": f"LM Studio is running, but has no model called {listed}.",
            "fix": Fix(FixAction.LOAD_LOCAL_MODEL, about),
        }
    return {
        "explanation": f"{_who(name, kind)} works, but doesn't offer {listed} to this key.",
        "fix": Fix(FixAction.CHOOSE_MODELS, about),
    }


# --- which providers to probe ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    optional: bool = False  # an implicit local provider nobody uses: absent is not a problem


def probe_targets(engine, only: str | None = None) -> list[Target]:
    """Configured providers, the implicit Ollama, LM Studio (optional unless used), and
    any provider the strong/weak pair names."""
    if only:
        return [Target(only)]
    out: dict[str, Target] = {}
    for s in engine.list_provider_settings():
        out[s.name] = Target(s.name)
    pair = engine.pair()
    used = {ref.provider for ref in (pair.strong, pair.weak) if ref is not None}
    for name in LOCAL_PROVIDERS:
        if name not in out:
            out[name] = Target(name, optional=(name != "ollama" and name not in used))
    for name in sorted(used):
        if name not in out:
            out[name] = Target(name)
    return list(out.values())


def _absent(report: HealthReport) -> bool:
    return report.status in _UNUSABLE and report.error_kind == ErrorKind.UNREACHABLE.value


async def probe_all(engine, only: str | None = None, deep: bool = False) -> list[HealthReport]:
    """Run every probe once, concurrently (``routedesk probe [NAME] [--deep]``).

    An implicit LM Studio that isn't running is left out unless it was asked for or is used.
    """
    targets = probe_targets(engine, only)
    results = await asyncio.gather(*(probe_provider(engine, t.name, deep=deep) for t in targets))
    out = []
    for t, (report, _models) in zip(targets, results):
        if t.optional and _absent(report):
            continue
        out.append(report)
    return out


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
        engine,
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
        if prev.status in _UNUSABLE and status not in _UNUSABLE:
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
        if failed and report.error is not None:
            if report.retry_after:
                slot.next_at = max(slot.next_at, self._clock() + float(report.retry_after))
        self._set_models(slot, models, report)
        self._poke()  # the scheduler recomputes its next wake-up
        self._notify(report)
        return report

    def _set_models(self, slot: _Slot, models: list[ModelInfo] | None, report: HealthReport) -> None:
        if models is None:
            if report.status in _UNUSABLE and report.error_kind in (ErrorKind.UNREACHABLE.value,) and slot.models:
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
        tasks = {waker}
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
