"""Every model RouteDesk knows, with its price and where the price comes from, and the
download of Ollama models (``routedesk models``, ``routedesk pull``).

Models come from each configured provider's model list and from the local servers
discovery finds (Ollama, LM Studio: zero cost). Models named in price overrides and in
the strong/weak pair are listed too, even when their provider can't be reached right now
(``available`` is False for those), so the user always sees what RouteDesk would use.
A provider that fails to list its models becomes a ``problem`` with a plain message and
a fix; it never hides the others.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelInfo, ModelRef
from desktop.engine.discovery import LOCAL_PROVIDERS, DetailCache, discover_one, same_model

__all__ = ["list_models", "pull", "pull_progress", "pull_model", "ProgressBar", "LIST_TIMEOUT"]

#: Longest wait for one provider's model list.
LIST_TIMEOUT = 10.0


def _explained(err: RouteDeskError, kind: str | None, base_url: str | None) -> RouteDeskError:
    from desktop.engine.explain import explain

    try:
        return explain(err, provider_kind=kind or "", base_url=base_url, fallback=None)
    except Exception:
        return err


def _settings(engine, name: str):
    try:
        return engine.provider_settings(name)
    except RouteDeskError:
        return None


async def _models_of(engine, name: str, *, cache: DetailCache | None, timeout: float):
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


def _row(engine, ref: ModelRef, info: ModelInfo | None, *, available: bool, listed_by: str) -> dict:
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


async def list_models(engine, *, timeout: float = LIST_TIMEOUT,
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
    for name, res in zip(names, results):
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


# --- pulling an Ollama model ------------------------------------------------------------------


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


class ProgressBar:
    """A text progress bar for ``ollama pull``-style progress.

    On a terminal it redraws one line (``\\r``); elsewhere (logs, tests) it prints one
    line per status and per 10 % step, so the output stays short.
    """

    def __init__(self, out: TextIO, *, width: int = 30, tty: bool | None = None) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty() if tty is None and hasattr(out, "isatty") else bool(tty)
        self._status: str | None = None
        self._step = -1
        self._drawn = False

    def line(self, status: str, completed: int | None, total: int | None) -> str:
        if total and completed is not None:
            frac = max(0.0, min(1.0, completed / total))
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{status} [{bar}] {frac * 100:5.1f}% {_human(completed)}/{_human(total)}"
        return status

    def update(self, progress) -> None:
        status = getattr(progress, "status", None) or (progress.get("status") if isinstance(progress, dict) else "")
        completed = getattr(progress, "completed", None) if not isinstance(progress, dict) else progress.get("completed")
        total = getattr(progress, "total", None) if not isinstance(progress, dict) else progress.get("total")
        text = self.line(status or "", completed, total)
        if self.tty:
            self.out.write("\r" + text.ljust(79))
            self._drawn = True
        else:
            step = int((completed or 0) * 10 // total) if total and completed is not None else -1
            if status != self._status or step != self._step:
                self.out.write(text + "\n")
            self._step = step
        self._status = status
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.out.write("\n")
            self.out.flush()
        self._drawn = False


async def pull_progress(engine, ref: ModelRef) -> AsyncIterator[object]:
    """Download ``ref`` (an Ollama model), yielding each progress line
    (``desktop.providers.PullProgress``: status, completed, total, fraction); the last one
    has status "success". Raises RouteDeskError (explained); closing the iterator or
    cancelling the task that consumes it stops the download."""
    settings = engine.provider_settings(ref.provider)
    if settings.kind != "ollama":
        from desktop.providers import display_name

        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{ref.provider} is {display_name(settings.kind)}; only Ollama models can be pulled from RouteDesk.",
            "For LM Studio, download models in its Discover tab; cloud models need no download."
            if settings.kind == "lmstudio" else
            Fix(FixAction.PULL_MODEL, {"provider": "ollama", "model": "llama3.2"}),
            provider=ref.provider, model=ref.model,
        )
    provider = engine.provider(ref.provider)
    try:
        async for progress in provider.pull(ref.model):
            yield progress
    except RouteDeskError as err:
        if err.model is None:
            err.model = ref.model
        text = f"{err.message} {err.detail}".lower()
        if "file does not exist" in text or ("manifest" in text and "not" in text):
            raise RouteDeskError(
                ErrorKind.MODEL_NOT_FOUND,
                f"Ollama's library has no model called {ref.model}.",
                "Check the name (and its :tag) at ollama.com/library, then pull again.",
                provider=ref.provider, model=ref.model, detail=err.detail,
            ) from None
        raise _explained(err, settings.kind, settings.base_url) from None


async def pull(engine, ref: ModelRef, on_progress: Callable[[object], None]) -> None:
    """``pull_progress`` with a callback: ``on_progress(progress)`` per line."""
    agen = pull_progress(engine, ref)
    try:
        async for progress in agen:
            on_progress(progress)
    finally:
        await agen.aclose()


async def pull_model(engine, ref: ModelRef, out_stream: TextIO | None = None) -> int:
    """``routedesk pull ollama/NAME``: stream the progress as a text bar; Ctrl+C (cancelling
    the task) stops cleanly and says what happened. Returns the exit code; a failure
    raises RouteDeskError (the command line prints its message and fix)."""
    out = out_stream if out_stream is not None else sys.stderr
    bar = ProgressBar(out)
    try:
        await pull(engine, ref, bar.update)
    except asyncio.CancelledError:
        bar.finish()
        out.write(f"Stopped pulling {ref.model}. Ollama keeps what it downloaded; run the same command to resume.\n")
        out.flush()
        raise
    except BaseException:
        bar.finish()
        raise
    bar.finish()
    out.write(f"Pulled {ref.model}. Try it: routedesk ask --model {ref} \"Hello\"\n")
    out.flush()
    return 0
