"""The provider contract: one subclass per wire protocol.

A provider turns ``ChatMessage``s into a stream of ``TextDelta``/``UsageReport``/``StreamEnd``
and every failure into a ``RouteDeskError``. It never creates an HTTP client (one
``httpx.AsyncClient`` is injected), never logs headers and never puts its key in an error.

Time limits are enforced twice: httpx's own connect/read timeouts guard each socket
operation, and a deadline over the parsed stream guards the time to the first event
(``Timeouts.first_token``) and between events (``Timeouts.read``). A keep-alive comment
resets the between-events deadline (the server is working) but not the first-token one, so
a server that only ever sends comments still counts as stalled. The deadline is disarmed while the
consumer holds an event, so a slow consumer never causes a timeout.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import httpx

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.redact import redact
from desktop.core.types import ChatMessage, ModelInfo, StreamEvent
from desktop.providers.classify import (
    bad_response,
    classify_http_error,
    classify_transport_error,
    who,
)
from desktop.providers.presets import PRESETS, normalize_base_url

__all__ = ["Provider", "Timeouts", "StreamState", "MAX_ERROR_BODY", "as_mapping", "read_to_end"]

#: How much of an error body is read before classifying it.
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``first_token``: from sending the request to the first stream event
    (None: same as ``read``). ``read``: longest silence between stream events."""

    connect: float = 5.0
    read: float = 60.0
    first_token: float | None = None
    write: float = 30.0
    pool: float = 10.0

    @property
    def first(self) -> float:
        return self.read if self.first_token is None else self.first_token

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect,
            read=max(self.read, self.first),
            write=self.write,
            pool=self.pool,
        )


async def read_to_end(rest: AsyncIterator[Any], limit: float = 0.25) -> None:
    """Read what a server sends after its end marker (the chunked body's last chunk) so
    httpx puts the connection back in its keep-alive pool: the next request then skips a
    TCP connect (and, behind a proxy, a new upstream). A server that holds the body open
    past ``limit`` seconds, or breaks it, only costs that connection; the answer is whole."""
    try:
        async with asyncio.timeout(limit):
            async for _ in rest:
                pass
    except (TimeoutError, httpx.HTTPError, RouteDeskError):
        pass


def as_mapping(value: Any) -> dict[str, Any]:
    """A JSON object from a parsed body, or {} for anything else."""
    return value if isinstance(value, dict) else {}


class StreamState:
    """Per-request bookkeeping shared between ``Provider.stream_chat`` and a subclass's
    ``_stream``: whether the response has started and the inter-event deadline."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self.started = False  # a 2xx status line was received
        self.events = 0  # data events parsed so far
        self.yielded = 0  # events handed to the consumer so far
        self._deadline: asyncio.Timeout | None = None

    def tick(self) -> None:
        """A stream event arrived: once the first token is out, the next event is due
        within ``timeouts.read`` (before it, the ``first_token`` deadline stands, so a
        preamble or keep-alives don't count as an answer starting)."""
        self.events += 1
        if self._deadline is not None and self.yielded:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.timeouts.read)

    def alive(self, _comment: str = "") -> None:
        """An SSE comment arrived (OpenRouter's ``: OPENROUTER PROCESSING``): once the
        answer has started, the server is still working on it, so the between-token
        deadline starts again. Before the first token it doesn't count, so a server that
        only ever sends comments still meets the ``first_token`` limit."""
        if self._deadline is not None and self.yielded:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.timeouts.read)


class Provider(ABC):
    kind: ClassVar[str] = ""
    local: ClassVar[bool] = False
    needs_key: ClassVar[bool] = False
    supports_usage_in_stream: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        base_url: str | None,
        api_key: str | None,
        client: httpx.AsyncClient,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.name = name
        self.base_url = normalize_base_url(self.kind, base_url)
        self._api_key = api_key or None
        self.client = client
        self.timeouts = timeouts

    # --- what subclasses provide ----------------------------------------------------

    @abstractmethod
    def _stream(
        self, model: str, messages: list[ChatMessage], max_tokens: int | None, state: StreamState
    ) -> AsyncIterator[StreamEvent]:
        """Yield events; call ``state.tick()`` per parsed event and set ``state.started``."""

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]: ...

    @abstractmethod
    async def check(self) -> str | None: ...

    # --- public ---------------------------------------------------------------------

    def with_base_url(self, url: str) -> Self:
        """The same provider (name, key, client, time limits) at another address, as a new
        object that shares nothing it learns about a server (a copy would share or inherit
        it). ``url`` is used as given, not normalised: probes try exactly the addresses that
        normalising would turn back into the configured one."""
        twin = type(self)(self.name, self.base_url, self._api_key, self.client, self.timeouts)
        twin.base_url = url
        return twin

    @property
    def display_name(self) -> str:
        return who(self.name, self.kind)

    @property
    def has_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self.name!r} kind={self.kind!r} base_url={self.base_url!r}>"

    async def stream_chat(
        self, model: str, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Yield TextDelta*, at most one UsageReport, then StreamEnd; raise RouteDeskError only."""
        self._require_key(model)
        state = StreamState(self.timeouts)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeouts.first) as deadline:
                state._deadline = deadline
                agen = self._stream(model, list(messages), max_tokens, state)
                try:
                    async for event in agen:
                        deadline.reschedule(None)  # the consumer's time is not the provider's
                        state.yielded += 1
                        yield event
                        deadline.reschedule(loop.time() + self.timeouts.read)
                finally:
                    aclose = getattr(agen, "aclose", None)  # an async generator, as subclasses write it
                    if aclose is not None:
                        await aclose()
        except RouteDeskError as err:
            raise self._scrub(err) from None
        except (GeneratorExit, asyncio.CancelledError):
            raise
        except Exception as exc:  # httpx errors, TimeoutError from the deadline, anything else
            classified = classify_transport_error(
                exc, provider=self.name, kind=self.kind, model=model, base_url=self.base_url,
                midstream=state.started,
                waited=self.timeouts.read if state.yielded else self.timeouts.first,
            )
            raise self._scrub(classified) from None

    # --- helpers for subclasses -----------------------------------------------------

    def _require_key(self, model: str | None) -> None:
        if self.needs_key and not self._api_key:
            preset = PRESETS.get(self.kind)
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"No API key is set for {self.display_name}.",
                self._fix(FixAction.ADD_KEY, why="missing", key_env=preset.key_env if preset else None,
                          keys_url=preset.keys_url if preset else None),
                provider=self.name,
                model=model,
            )

    def _scrub(self, err: RouteDeskError) -> RouteDeskError:
        secrets = (self._api_key,) if self._api_key else ()
        err.message = redact(err.message, secrets)
        err.fix = err.fix.redacted(secrets)
        err.detail = redact(err.detail or "", secrets)
        err.args = (err.message,)
        if err.provider is None:
            err.provider = self.name
        return err

    def _fix(self, action: FixAction, **params: str | None) -> Fix:
        """A fix about this provider (its name, kind and address go along)."""
        every = {"provider": self.name, "kind": self.kind, "base_url": self.base_url, **params}
        return Fix(action, {k: v for k, v in every.items() if v})

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def _ctx(self, model: str | None) -> dict[str, Any]:
        return {"provider": self.name, "kind": self.kind, "model": model, "base_url": self.base_url}

    async def _read_limited(self, response: httpx.Response, limit: int = MAX_ERROR_BODY) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= limit:
                    break
        except (TimeoutError, httpx.HTTPError, OSError):
            pass  # classify what we have
        return b"".join(chunks)[:limit]

    async def _raise_for_status(self, response: httpx.Response, model: str | None) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"{self.display_name} redirected the request (HTTP {status}); the base URL "
                f"{self.base_url} is probably not the API's address.",
                self._fix(FixAction.OPEN_PROVIDER_SETTINGS,
                          hint=f"the server points to {redact(location)[:200]}" if location else None),
                provider=self.name, model=model, status=status,
            )
        body = await self._read_limited(response)
        raise classify_http_error(status, response.headers, body, **self._ctx(model))

    async def _request_json(
        self, method: str, path: str, *, model: str | None = None, json_body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - passed to httpx as this request's own limit
    ) -> Any:
        """A small non-streaming call (model lists, version checks); errors classified."""
        try:
            t = self.timeouts.as_httpx() if timeout is None else httpx.Timeout(timeout, connect=self.timeouts.connect)
            response = await self.client.request(
                method, self._url(path), headers=self._headers(), json=json_body, timeout=t
            )
            await self._raise_for_status(response, model)
            try:
                return json.loads(response.content)
            except ValueError:
                raise bad_response(
                    "an answer that isn't JSON", provider=self.name, kind=self.kind, model=model,
                    detail=response.text[:200], status=response.status_code,
                ) from None
        except RouteDeskError as err:
            raise self._scrub(err) from None
        except Exception as exc:
            raise self._scrub(
                classify_transport_error(exc, midstream=False, **self._ctx(model))
            ) from None

    def _headers(self) -> dict[str, str]:
        return {}

    def _interrupted(self, model: str, state: StreamState) -> RouteDeskError:
        """The body ended cleanly but without the protocol's end marker."""
        return RouteDeskError(
            ErrorKind.INTERRUPTED,
            f"The answer from {self.display_name} for {model} ended before it was finished.",
            self._fix(FixAction.RETRY_PARTIAL),
            provider=self.name, model=model, code="no_end_marker",
            detail=f"the stream closed after {state.events} events without its end marker",
        )
