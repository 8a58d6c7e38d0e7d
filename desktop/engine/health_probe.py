"""Probing one provider (``routedesk probe``, and each round of the background monitor):
its model list, for Ollama its version, a deep check on request, and the problems
recognised here rather than in ``explain``: a wrong base URL (the URL with ``/v1`` added or
removed is tried and suggested), a model of the pair the provider does not have, and a
local server that answers only under another loopback name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import NO_FIX, Fix, FixAction
from desktop.core.types import ChatMessage, ModelInfo, StreamEnd
from desktop.engine.discovery import LOCAL_PROVIDERS, DetailCache, discover_one, same_model
from desktop.engine.health_report import DOWN_AFTER, UNUSABLE, HealthReport, status_for
from desktop.providers.base import Provider
from desktop.providers.presets import PRESETS

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["PROBE_TIMEOUT", "Target", "probe_all", "probe_provider", "probe_targets", "url_alternatives"]

#: One probe may take this long before it counts as a timeout.
PROBE_TIMEOUT = 10.0

_OLLAMA_DEFAULT = PRESETS["ollama"].base_url or ""




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


async def _suggest_base_url(provider: Provider, timeout: float) -> str | None:  # noqa: ASYNC109
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


def _pick_deep_model(engine: Engine, name: str, kind: str, models: list[ModelInfo]) -> str | None:
    pair = engine.pair()
    for ref in (pair.weak, pair.strong):
        if ref is not None and ref.provider == name:
            return ref.model
    names = [m.ref.model for m in models]
    for cheap in ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4.1-mini", "claude-3-5-haiku-latest", "claude-haiku-4-5"):
        if cheap in names:
            return cheap
    local = _is_local(kind)
    return names[0] if (local and names) else None


async def _deep_check(provider: Provider, model: str, timeout: float) -> None:  # noqa: ASYNC109
    """One tiny completion (a few input tokens, one output token)."""
    async with asyncio.timeout(timeout):
        ended = False
        async for event in provider.stream_chat(model, [ChatMessage("user", "Reply with OK.")], max_tokens=1):
            if isinstance(event, StreamEnd):
                ended = True
        if not ended:
            raise RouteDeskError(ErrorKind.INTERRUPTED, "The test answer stopped before its end.",
                                 provider=provider.name,
                                 model=model)


async def probe_provider(
    engine: Engine,
    name: str,
    *,
    deep: bool = False,
    previous: HealthReport | None = None,
    cache: DetailCache | None = None,
    timeout: float = PROBE_TIMEOUT,  # noqa: ASYNC109 - the limit of each call it makes
    wall: Callable[[], float] = time.time,
) -> tuple[HealthReport, list[ModelInfo] | None]:
    """Probe one provider; return its report and the models it listed (None when it failed).

    Never raises a RouteDeskError: every failure ends up in the report.
    """
    await engine.open_client()  # the first probe builds the shared client off the event loop
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
    base: dict[str, Any] = dict(name=name, kind=kind, base_url=base_url, local=local, checked_at=now,
                                last_success=last_success, source="deep" if deep else "probe")

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
            **base, status=status, latency_ms=latency, explanation=e.message, fix=e.fix,
            error_kind=err.kind.value, error=e.info(), failures=n,
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
        if (ref is not None and ref.provider == name and not any(same_model(ref.model, n) for n in names)
                and ref.model not in missing):
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


def _is_local(kind: str | None) -> bool:
    preset = PRESETS.get(kind or "")
    return preset is not None and preset.local


def _ok_sentence(name: str, kind: str, version: str | None, n: int, latency: float | None) -> str:
    who = _who(name, kind) + (f" {version}" if version else "")
    ms = f" in {latency:.0f} ms" if latency is not None else ""
    if _is_local(kind):
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
            "explanation": f"{_display(kind)} is running, but has no model called {listed}.",
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


def probe_targets(engine: Engine, only: str | None = None) -> list[Target]:
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
    return report.status in UNUSABLE and report.error_kind == ErrorKind.UNREACHABLE.value


async def probe_all(engine: Engine, only: str | None = None, deep: bool = False) -> list[HealthReport]:
    """Run every probe once, concurrently (``routedesk probe [NAME] [--deep]``).

    An implicit LM Studio that isn't running is left out unless it was asked for or is used.
    """
    targets = probe_targets(engine, only)
    results = await asyncio.gather(*(probe_provider(engine, t.name, deep=deep) for t in targets))
    out = []
    for t, (report, _models) in zip(targets, results, strict=True):
        if t.optional and _absent(report):
            continue
        out.append(report)
    return out
