"""Every model RouteDesk knows, with its price and where the price comes from
(``routedesk models``; downloads are ``engine/pulls.py``).

Models come from each configured provider's model list and from the local servers
discovery finds (Ollama, LM Studio: zero cost). Models named in price overrides and in
the strong/weak pair are listed too, even when their provider can't be reached right now
(``available`` is False for those), so the user always sees what RouteDesk would use.
A provider that fails to list its models becomes a ``problem`` with a plain message and
a fix; it never hides the others.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelInfo, ModelRef
from desktop.engine.discovery import LOCAL_PROVIDERS, DetailCache, discover_one, same_model

if TYPE_CHECKING:
    from desktop.engine.app import Engine, ProviderSettings

__all__ = ["list_models", "LIST_TIMEOUT"]

#: Longest wait for one provider's model list.
LIST_TIMEOUT = 10.0


def _explained(err: RouteDeskError, kind: str | None, base_url: str | None) -> RouteDeskError:
    from desktop.engine.explain import explain

    try:
        return explain(err, provider_kind=kind or "", base_url=base_url, fallback=None)
    except Exception:
        return err


def _settings(engine: Engine, name: str) -> ProviderSettings | None:
    try:
        return engine.provider_settings(name)
    except RouteDeskError:
        return None


async def _models_of(engine: Engine, name: str, *, cache: DetailCache | None, timeout: float) -> Any:  # noqa: ASYNC109
    """(models, error, note) for one provider; never raises a RouteDeskError."""
    settings = engine.provider_settings(name)
    if settings.local:
        found = await discover_one(engine, name, details=True, cache=cache, timeout=timeout)
        if not found.found:
            return None, found.error, None
        note = None
        if found.note:
            note = RouteDeskError(ErrorKind.MISCONFIGURED, found.note, found.note_fix or "", provider=name,
                                  code="other_address")
        return found.models, None, note
    try:
        provider = engine.provider(name)
        async with asyncio.timeout(timeout):
            return await provider.list_models(), None, None
    except TimeoutError:
        return None, RouteDeskError(
            ErrorKind.TIMEOUT, f"{name} didn't list its models within {timeout:.0f} s.",
            Fix(FixAction.CHECK_NETWORK, {"provider": name}), provider=name,
            code="probe_timeout"), None
    except RouteDeskError as err:
        return None, err, None


def _row(engine: Engine, ref: ModelRef, info: ModelInfo | None, *, available: bool, listed_by: str) -> dict:
    settings = _settings(engine, ref.provider)
    kind = settings.kind if settings is not None else None
    local = bool(settings.local) if settings is not None else False
    price = engine.prices.price(ref, provider_kind=kind, local=local)
    return {
        "model": str(ref),
        "provider": ref.provider,
        "kind": kind,
        "local": local,
        "available": available,
        "listed_by": listed_by,
        "price": price.to_dict(),
        "price_label": price.label(),
        "price_source": price.source,
        "size_bytes": None if info is None else info.size_bytes,
        "parameter_size": None if info is None else info.parameter_size,
        "quantization": None if info is None else info.quantization,
        "context_length": None if info is None else info.context_length,
    }


async def list_models(engine: Engine, *, timeout: float = LIST_TIMEOUT,  # noqa: ASYNC109
                      cache: DetailCache | None = None) -> tuple[list[dict], list[dict]]:
    """Rows for every model of every configured provider plus the discovered local ones,
    and problems ``[{"provider", "error": ErrorInfo.to_dict()}]``.

    Row keys: model ("P/M"), provider, kind, local, available, listed_by ("provider",
    "pair", "price override"), price (Price.to_dict()), price_label, price_source,
    size_bytes, parameter_size, quantization, context_length.
    """
    configured = [s.name for s in engine.list_provider_settings()]
    pair = engine.pair()
    pair_refs = [r for r in (pair.strong, pair.weak) if r is not None]
    overrides = [o.ref for o in engine.store.list_price_overrides()]
    referenced = {r.provider for r in pair_refs} | {r.provider for r in overrides}
    implicit = [n for n in LOCAL_PROVIDERS if n not in configured]
    names = configured + implicit

    results = await asyncio.gather(*(_models_of(engine, n, cache=cache, timeout=timeout) for n in names),
                                   return_exceptions=True)
    rows: list[dict] = []
    problems: list[dict] = []
    listed: dict[str, list[ModelInfo]] = {}
    for name, res in zip(names, results, strict=True):
        if isinstance(res, BaseException):
            if isinstance(res, asyncio.CancelledError):
                raise res
            if isinstance(res, RouteDeskError):
                models, err, note = None, res, None
            else:
                models, err, note = None, RouteDeskError(
                    ErrorKind.BAD_RESPONSE, f"Listing {name}'s models failed unexpectedly ({type(res).__name__}).",
                    "Try again; run with ROUTEDESK_DEBUG=1 to see the details.", provider=name), None
        else:
            models, err, note = res
        settings = _settings(engine, name)
        kind = settings.kind if settings is not None else None
        base_url = settings.base_url if settings is not None else None
        if err is not None:
            quiet = name in implicit and name != "ollama" and name not in referenced \
                and err.kind is ErrorKind.UNREACHABLE
            if not quiet:
                problems.append({"provider": name, "error": _explained(err, kind, base_url).info().to_dict()})
            continue
        if note is not None:
            problems.append({"provider": name, "error": note.info().to_dict()})
        listed[name] = list(models or [])
        for m in listed[name]:
            rows.append(_row(engine, m.ref, m, available=True, listed_by="provider"))

    seen = {r["model"] for r in rows}

    def known(ref: ModelRef) -> bool:
        if str(ref) in seen:
            return True
        return any(same_model(ref.model, m.ref.model) for m in listed.get(ref.provider, []))

    for ref, why in [(r, "pair") for r in pair_refs] + [(r, "price override") for r in overrides]:
        if known(ref):
            continue
        seen.add(str(ref))
        rows.append(_row(engine, ref, None, available=False, listed_by=why))
    return rows, problems

