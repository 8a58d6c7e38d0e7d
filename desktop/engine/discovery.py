"""Find the model servers running on this computer, with no set-up.

Ollama is looked for where ``OLLAMA_HOST`` says (or 127.0.0.1:11434) and LM Studio at
127.0.0.1:1234. The engine already resolves the names ``ollama`` and ``lmstudio``
without set-up (``Engine.provider_settings``); discovery asks those addresses for their
models, and when the configured address does not answer it also tries the same port
under the other loopback spellings (``localhost``, ``127.0.0.1``, ``[::1]``), because a
server bound to one of them is a common reason why "Ollama models never show up".

Everything here is cheap and never spends money: a version call and the model list,
plus (for Ollama) one ``/api/show`` per model for its context length, cached by the
model's name and size so a steady state costs one list call per probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelInfo

_T = TypeVar("_T")

__all__ = [
    "LOCAL_PROVIDERS",
    "Discovered",
    "DetailCache",
    "discover",
    "discover_one",
    "host_variants",
    "same_model",
]

#: The implicit local providers: engine name -> provider kind.
LOCAL_PROVIDERS: dict[str, str] = {"ollama": "ollama", "lmstudio": "lmstudio"}

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
#: Upper bound for one discovery call; local servers answer in milliseconds.
DISCOVERY_TIMEOUT = 5.0
_SHOW_CONCURRENCY = 4


@dataclass
class Discovered:
    """What discovery learnt about one local server.

    ``base_url`` is where it answered (or, when it did not, the configured address);
    ``moved`` is True when it answered only under another loopback spelling, in which
    case ``note`` says so and how to make chats use that address.
    """

    name: str
    kind: str
    configured_url: str
    base_url: str
    found: bool
    version: str | None = None
    models: list[ModelInfo] = field(default_factory=list)
    error: RouteDeskError | None = None
    latency_ms: float | None = None
    note: str | None = None
    note_fix: Fix | str | None = None
    tried: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return self.found and self.base_url != self.configured_url

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "found": self.found,
            "base_url": self.base_url,
            "configured_url": self.configured_url,
            "version": self.version,
            "models": [_model_dict(m) for m in self.models],
            "error": None if self.error is None else self.error.info().to_dict(),
            "latency_ms": self.latency_ms,
            "note": self.note,
            "note_fix": self.note_fix.to_json() if isinstance(self.note_fix, Fix) else self.note_fix,
        }


def _model_dict(m: ModelInfo) -> dict:
    return {
        "model": str(m.ref),
        "size_bytes": m.size_bytes,
        "parameter_size": m.parameter_size,
        "quantization": m.quantization,
        "context_length": m.context_length,
    }


def same_model(a: str, b: str) -> bool:
    """Ollama treats ``llama3.2`` and ``llama3.2:latest`` as one model."""
    if a == b:
        return True
    norm = lambda s: s if ":" in s.rsplit("/", 1)[-1] else s + ":latest"  # noqa: E731
    return norm(a) == norm(b)


def host_variants(url: str) -> list[str]:
    """``url`` first, then the same scheme/port/path under the other loopback spellings.

    A non-loopback host has no variants (we never guess other machines).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return [url]
    shown = f"[{host}]" if ":" in host else host
    if shown not in _LOOPBACK and host != "0.0.0.0":
        return [url]
    out = [url]
    for alt in _LOOPBACK:
        if alt == shown:
            continue
        netloc = alt + (f":{port}" if port is not None else "")
        candidate = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        if candidate not in out:
            out.append(candidate)
    return out


class DetailCache:
    """Per-model details that need one extra call each (Ollama's context length).

    Keyed by (base URL, model, size) so a re-pulled model with new weights is asked again.
    """

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, int | None], ModelInfo] = {}

    def get(self, base_url: str, m: ModelInfo) -> ModelInfo | None:
        return self._data.get((base_url, m.ref.model, m.size_bytes))

    def put(self, base_url: str, m: ModelInfo, detail: ModelInfo) -> None:
        self._data[(base_url, m.ref.model, m.size_bytes)] = detail

    def keep_only(self, base_url: str, models: list[ModelInfo]) -> None:
        live = {(base_url, m.ref.model, m.size_bytes) for m in models}
        for key in [k for k in self._data if k[0] == base_url and k not in live]:
            del self._data[key]


async def _with_details(provider: Any, models: list[ModelInfo], cache: DetailCache | None) -> list[ModelInfo]:
    """Fill context length (and anything else missing) from ``provider.show`` when it has one."""
    show = getattr(provider, "show", None)
    if show is None or not models:
        return models
    base = provider.base_url
    sem = asyncio.Semaphore(_SHOW_CONCURRENCY)

    async def one(m: ModelInfo) -> ModelInfo:
        detail = cache.get(base, m) if cache is not None else None
        if detail is None:
            try:
                async with sem:
                    detail = await show(m.ref.model)
            except RouteDeskError:
                return m  # details are a nicety; the model is still there
            if cache is not None:
                cache.put(base, m, detail)
        return replace(
            m,
            context_length=m.context_length or detail.context_length,
            parameter_size=m.parameter_size or detail.parameter_size,
            quantization=m.quantization or detail.quantization,
        )

    out = await asyncio.gather(*(one(m) for m in models))
    if cache is not None:
        cache.keep_only(base, models)
    return list(out)


async def _lmstudio_details(provider: Any, models: list[ModelInfo], timeout: float = 3.0) -> list[ModelInfo]:  # noqa: ASYNC109
    """LM Studio's own REST API (``/api/v0/models``) tells quantisation and context length,
    which its OpenAI-compatible list does not. Older versions lack it: then nothing changes."""
    if not models:
        return models
    root = provider.base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    try:
        response = await provider.client.get(root + "/api/v0/models", headers=provider._headers(), timeout=timeout)
        if response.status_code != 200:
            return models
        data = response.json()
    except Exception:  # a nicety: any failure leaves the list as it was
        return models
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return models
    by_id: dict[str, dict] = {i["id"]: i for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)}
    out = []
    for m in models:
        item = by_id.get(m.ref.model)
        if item is None:
            out.append(m)
            continue
        ctx = item.get("loaded_context_length") or item.get("max_context_length")
        quant = item.get("quantization")
        out.append(replace(
            m,
            context_length=m.context_length or (
                ctx if isinstance(ctx, int) and not isinstance(ctx, bool) and ctx > 0 else None),
            quantization=m.quantization or (quant if isinstance(quant, str) and quant else None),
        ))
    return out


def _variant_provider(engine: Any, base: Any, url: str) -> Any:
    """``base`` pointed at ``url`` (same client, same key, nothing logged)."""
    return base.with_base_url(url)


async def _timed(coro: Awaitable[_T], timeout: float) -> _T:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        return await coro


def _timeout_error(name: str, kind: str, url: str, timeout: float) -> RouteDeskError:
    from desktop.providers import display_name

    return RouteDeskError(
        ErrorKind.TIMEOUT,
        f"{display_name(kind)} at {_hostport(url)} didn't answer within {timeout:.0f} s.",
        "Check that it isn't stuck (restart it), then try again.",
        provider=name,
        code="probe_timeout",
    )


def _hostport(url: str) -> str:
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


async def discover_one(
    engine: Any,
    name: str,
    *,
    details: bool = True,
    cache: DetailCache | None = None,
    timeout: float = DISCOVERY_TIMEOUT,  # noqa: ASYNC109
    clock: Callable[[], float] = time.perf_counter,
) -> Discovered:
    """Look for the local provider ``name`` (``ollama``, ``lmstudio`` or any configured
    local provider) at its address and, if that fails to connect, at the loopback variants.

    Never raises for the server's absence: ``found`` is False and ``error`` says why
    (the error from the configured address, which is what the user set).
    """
    settings = engine.provider_settings(name)
    kind = settings.kind
    configured = settings.base_url
    result = Discovered(name=name, kind=kind, configured_url=configured, base_url=configured, found=False)
    try:
        base_provider = engine.provider(name)
    except RouteDeskError as err:
        result.error = err
        return result
    first_error: RouteDeskError | None = None
    for url in host_variants(base_provider.base_url):
        provider = base_provider if url == base_provider.base_url else _variant_provider(engine, base_provider, url)
        result.tried.append(url)
        started = clock()
        try:
            version = None
            if hasattr(provider, "show"):  # Ollama: /api/version is the cheapest call there is
                version = await _timed(provider.check(), timeout)
            models = await _timed(provider.list_models(), timeout)
        except TimeoutError:
            first_error = first_error or _timeout_error(name, kind, url, timeout)
            if url == base_provider.base_url:
                break  # it is there but stuck: other spellings would only add waiting
            continue
        except RouteDeskError as err:
            first_error = first_error or err
            if err.kind is not ErrorKind.UNREACHABLE:
                break  # something answered: the address is right, the problem is elsewhere
            continue
        result.latency_ms = round((clock() - started) * 1000, 1)
        result.found = True
        result.base_url = url
        result.version = version
        if details:
            try:
                if kind == "lmstudio":
                    models = await _timed(_lmstudio_details(provider, models), timeout)
                else:
                    models = await _timed(_with_details(provider, models, cache), timeout)
            except TimeoutError:
                pass
        result.models = models
        if url != base_provider.base_url:
            result.note, result.note_fix = _moved_note(kind, base_provider.base_url, url, name)
        return result
    result.error = first_error
    return result


def _moved_note(kind: str, configured: str, found: str, name: str) -> tuple[str, Fix | str]:
    """(what happened, what to do) when a server answers only under another loopback name:
    for Ollama an environment variable, for others a new base URL (a value, so the command
    line prints the command that sets it and the window its button)."""
    from desktop.providers import display_name

    hostport = _hostport(found)
    fix: Fix | str
    if kind == "ollama":
        fix = (f"Set OLLAMA_HOST={hostport} before starting RouteDesk (or start Ollama on "
               f"{_hostport(configured)}) so that chats reach it.")
    else:
        fix = Fix(FixAction.SET_BASE_URL, {"provider": name, "kind": kind, "base_url": found})
    return (f"{display_name(kind)} answers at {hostport}, not at {_hostport(configured)} where RouteDesk "
            "sends chats.", fix)


async def discover(
    engine: Any,
    names: tuple[str, ...] | list[str] | None = None,
    *,
    details: bool = True,
    cache: DetailCache | None = None,
    timeout: float = DISCOVERY_TIMEOUT,  # noqa: ASYNC109
) -> list[Discovered]:
    """Discover the implicit local providers (default: Ollama and LM Studio) at once."""
    wanted = list(names) if names is not None else list(LOCAL_PROVIDERS)
    results = await asyncio.gather(
        *(discover_one(engine, n, details=details, cache=cache, timeout=timeout) for n in wanted),
        return_exceptions=True,
    )
    out: list[Discovered] = []
    for n, r in zip(wanted, results, strict=False):
        if isinstance(r, BaseException):
            if isinstance(r, asyncio.CancelledError):
                raise r
            err = r if isinstance(r, RouteDeskError) else RouteDeskError(
                ErrorKind.BAD_RESPONSE, f"Looking for {n} failed unexpectedly ({type(r).__name__}).", "Try again.",
                provider=n,
            )
            kind = LOCAL_PROVIDERS.get(n, n)
            out.append(Discovered(n, kind, "", "", False, error=err))
        else:
            out.append(r)
    return out
