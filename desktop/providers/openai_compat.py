"""OpenAI Chat Completions over SSE: OpenAI, OpenRouter, LM Studio and any compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

from httpx_sse import aconnect_sse

from desktop.core.errors import RouteDeskError
from desktop.core.types import (
    ChatMessage,
    ModelInfo,
    ModelRef,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
)
from desktop.providers.base import Provider, StreamState, as_mapping, read_to_end
from desktop.providers.classify import bad_response, classify_error_payload, classify_http_error
from desktop.providers.sse import iter_sse
from desktop.providers.stream_end import broke_off, fallbacks_header, money, served

__all__ = [
    "OpenAICompatProvider",
    "OpenAIProvider",
    "OpenRouterProvider",
    "LMStudioProvider",
    "OpenAIStreamParser",
    "compatible_provider_class",
]

#: Sent to OpenRouter so requests show up as RouteDesk in its activity list.
APP_URL = "https://github.com/routedesk/routedesk"
APP_TITLE = "RouteDesk"


def _int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int) and x >= 0:
        return x
    if isinstance(x, float) and x >= 0 and x == x and x != float("inf"):
        return int(x)
    return None


def _context_of(item: dict[str, Any]) -> int | None:
    """A model's context window as a model list writes it: ``context_length`` (OpenRouter,
    LM Studio), ``context_window`` (Groq), ``max_context_length``, or ``max_input_tokens``,
    top-level or under ``model_info`` (LiteLLM's model info)."""
    info = item.get("model_info")
    nested = info if isinstance(info, dict) else {}
    for where in (item, nested):
        for key in ("context_length", "context_window", "max_context_length", "max_input_tokens"):
            value = _int(where.get(key))
            if value:
                return value
    return None


class OpenAIStreamParser:
    """Turns the SSE events of one chat/completions stream into StreamEvents.

    ``feed(event, data)`` returns the events to yield (raising RouteDeskError for an error
    object or a malformed chunk); after ``[DONE]`` it has returned UsageReport (if usage
    was seen) and StreamEnd, and ``done`` is True.

    An error object after text has arrived (OpenRouter's mid-stream error chunk, with
    ``finish_reason: "error"``) ends the answer as interrupted; before any text it is
    classified like an HTTP error, so a fallback can still answer. The chunks' ``model``
    names the model that answered, ``usage.cost`` (OpenRouter) what it cost.
    """

    def __init__(self, *, provider: str | None, kind: str | None, model: str | None) -> None:
        self.ctx: dict[str, Any] = {"provider": provider, "kind": kind, "model": model}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.done = False
        self.text_seen = False
        self.model_named: str | None = None
        self.cost: Decimal | None = None  # the provider's own figure (usage.cost)
        self.header_cost: Decimal | None = None  # from a proxy's response header
        self.fallbacks = 0  # a proxy's count of fallbacks it tried (LiteLLM)

    def headers(self, headers: Any) -> None:
        """Read what a proxy says in the response headers (LiteLLM's cost and fallbacks)."""
        self.header_cost = money(headers.get("x-litellm-response-cost"))
        self.fallbacks = fallbacks_header(headers)

    def _end(self) -> StreamEnd:
        asked = self.ctx["model"]
        named = served(asked, self.model_named)
        if named is None and self.fallbacks and self.model_named and self.model_named != asked:
            named = self.model_named  # the proxy says it fell back: its name is the news
        cost = self.cost if self.cost is not None else self.header_cost
        return StreamEnd(self.finish_reason, served_model=named, reported_cost=cost)

    def _error(self, payload: Any) -> RouteDeskError:
        if self.text_seen:
            return broke_off(payload, **self.ctx)
        return classify_error_payload(payload, **self.ctx)

    def _bad(self, what: str, data: str) -> RouteDeskError:
        return bad_response(what, detail=data, **self.ctx)

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        if self.done:
            return []
        text = data.strip()
        if event == "error":
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {"error": {"message": text}}
            if not isinstance(payload, dict) or "error" not in payload:
                payload = {"error": payload}
            raise self._error(payload)
        if not text:
            return []
        if text == "[DONE]":
            self.done = True
            out: list[StreamEvent] = []
            if self.usage is not None:
                out.append(UsageReport(self.usage))
            out.append(self._end())
            return out
        try:
            obj = json.loads(text)
        except ValueError:
            raise self._bad("a malformed stream chunk", text) from None
        if not isinstance(obj, dict):
            raise self._bad("a stream chunk that isn't an object", text)
        if obj.get("error"):
            raise self._error(obj)
        out = []
        if isinstance(obj.get("model"), str) and obj["model"]:
            self.model_named = obj["model"]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            i = _int(usage.get("prompt_tokens"))
            o = _int(usage.get("completion_tokens"))
            if i is not None or o is not None:
                self.usage = Usage(i or 0, o or 0)
            if money(usage.get("cost")) is not None:
                self.cost = money(usage.get("cost"))
        choices = obj.get("choices")
        if isinstance(choices, list):
            for choice in choices[:1]:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if not isinstance(delta, dict):
                    delta = as_mapping(choice.get("message"))
                content = delta.get("content")
                if content is None and isinstance(choice.get("text"), str):
                    content = choice["text"]
                if isinstance(content, str) and content:
                    out.append(TextDelta(content))
                    self.text_seen = True
                reason = choice.get("finish_reason")
                if reason == "error":  # an upstream failure without an error object
                    raise self._error({"error": {"message": "the stream ended with finish_reason \"error\""}})
                if isinstance(reason, str) and reason:
                    self.finish_reason = reason  # "length", "content_filter" reach the engine via StreamEnd
        elif choices is not None:
            raise self._bad("a stream chunk with unreadable choices", text)
        return out

    def complete(self, obj: Any) -> list[StreamEvent]:
        """A non-streaming body (some servers ignore ``stream``): one text, usage, end."""
        if not isinstance(obj, dict):
            raise self._bad("an answer that isn't an object", str(obj)[:200])
        if obj.get("error"):
            raise classify_error_payload(obj, **self.ctx)
        if isinstance(obj.get("model"), str) and obj["model"]:
            self.model_named = obj["model"]
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._bad("an answer with no choices", json.dumps(obj)[:200])
        msg = choices[0].get("message")
        content = msg.get("content") if isinstance(msg, dict) else choices[0].get("text")
        out: list[StreamEvent] = []
        if isinstance(content, str) and content:
            out.append(TextDelta(content))
        reason = choices[0].get("finish_reason")
        usage = obj.get("usage")
        if isinstance(usage, dict):
            i, o = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
            if i is not None or o is not None:
                out.append(UsageReport(Usage(i or 0, o or 0)))
            self.cost = money(usage.get("cost"))
        self.finish_reason = reason if isinstance(reason, str) else None
        out.append(self._end())
        self.done = True
        return out


class OpenAICompatProvider(Provider):
    kind = "openai-compatible"
    local = False
    needs_key = False
    supports_usage_in_stream = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Cleared after a server rejects ``stream_options``; remembered for this provider.
        self.stream_options_ok = True
        #: Models that rejected ``max_tokens`` and asked for ``max_completion_tokens``
        #: (OpenAI's reasoning models); remembered for this provider.
        self.completion_tokens_models: set[str] = set()

    def _headers(self) -> dict[str, str]:
        headers = {}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, model: str, messages: list[ChatMessage], max_tokens: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if max_tokens is not None:
            param = "max_completion_tokens" if model in self.completion_tokens_models else "max_tokens"
            body[param] = max_tokens
        if self.stream_options_ok:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _stream(
        self, model: str, messages: list[ChatMessage], max_tokens: int | None, state: StreamState
    ) -> AsyncIterator[StreamEvent]:
        parser = OpenAIStreamParser(provider=self.name, kind=self.kind, model=model)
        for attempt in range(3):
            body = self._body(model, messages, max_tokens)
            async with aconnect_sse(
                self.client, "POST", self._url("chat/completions"), json=body,
                headers=self._headers(), timeout=self.timeouts.as_httpx(),
            ) as source:
                response = source.response
                if response.status_code in (400, 422) and attempt < 2:
                    # Servers that don't know a parameter say so; drop or rename it once.
                    raw = await self._read_limited(response)
                    low = raw.lower()
                    if "stream_options" in body and b"stream_options" in low:
                        self.stream_options_ok = False
                        continue
                    if "max_tokens" in body and b"max_completion_tokens" in low:
                        self.completion_tokens_models.add(model)
                        continue
                    raise classify_http_error(response.status_code, response.headers, raw, **self._ctx(model))
                await self._raise_for_status(response, model)
                state.started = True
                parser.headers(response.headers)
                ctype = response.headers.get("content-type", "").lower()
                if "text/event-stream" not in ctype:
                    raw = await response.aread()
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        raise classify_http_error(
                            response.status_code, response.headers, raw, **self._ctx(model)
                        ) from None
                    for event in parser.complete(obj):
                        yield event
                    return
                sses = iter_sse(response, state.alive)
                async for sse in sses:
                    events = parser.feed(sse.event, sse.data)
                    state.tick()
                    for event in events:
                        yield event
                    if parser.done:
                        await read_to_end(sses)
                        return
                raise self._interrupted(model, state)
            return

    async def list_models(self) -> list[ModelInfo]:
        data = await self._request_json("GET", "models")
        items = data.get("data") if isinstance(data, dict) else data
        if isinstance(data, dict) and items is None:
            items = data.get("models")
        if not isinstance(items, list):
            raise self._scrub(bad_response("a model list RouteDesk couldn't read",
                                           provider=self.name, kind=self.kind, model=None,
                                           detail=json.dumps(data)[:200]))
        out: list[ModelInfo] = []
        for item in items:
            mid = item.get("id") if isinstance(item, dict) else item if isinstance(item, str) else None
            if not isinstance(mid, str) or not mid:
                continue
            ctx = _context_of(item) if isinstance(item, dict) else None
            out.append(ModelInfo(ModelRef(self.name, mid), local=self.local, context_length=ctx))
        if self.kind == "openai-compatible" and out and all(m.context_length is None for m in out):
            windows = await self._proxy_model_info()
            out = [replace(m, context_length=windows.get(m.ref.model)) for m in out]
        return out

    async def _proxy_model_info(self) -> dict[str, int]:
        """Model -> input window from a LiteLLM proxy's ``GET /v1/model/info``, whose
        ``/v1/models`` lists names only: ``{"data": [{"model_name", "model_info":
        {"max_input_tokens", ...}}]}`` (docs.litellm.ai/docs/proxy/model_management). Any
        other server answers 404 or something else; then nothing is known, as before."""
        try:
            data = await self._request_json("GET", "model/info")
        except RouteDeskError:
            return {}
        items = data.get("data") if isinstance(data, dict) else None
        out: dict[str, int] = {}
        for item in items if isinstance(items, list) else []:
            name = item.get("model_name") if isinstance(item, dict) else None
            ctx = _context_of(item) if isinstance(name, str) else None
            if isinstance(name, str) and ctx is not None:
                out.setdefault(name, ctx)
        return out

    async def check(self) -> str | None:
        await self._request_json("GET", "models")
        return None


class OpenAIProvider(OpenAICompatProvider):
    kind = "openai"
    needs_key = True


class OpenRouterProvider(OpenAICompatProvider):
    kind = "openrouter"
    needs_key = True

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        headers["HTTP-Referer"] = APP_URL
        headers["X-Title"] = APP_TITLE
        return headers


class LMStudioProvider(OpenAICompatProvider):
    kind = "lmstudio"
    local = True
    needs_key = False


_COMPAT_CLASSES: dict[str, type[OpenAICompatProvider]] = {
    "openai-compatible": OpenAICompatProvider,
    "openai": OpenAIProvider,
    "openrouter": OpenRouterProvider,
    "lmstudio": LMStudioProvider,
}


def compatible_provider_class(kind: str) -> type[OpenAICompatProvider]:
    """The class for an OpenAI-compatible preset (groq, together, ... get a small subclass
    so ``kind`` names the preset and explanations can point at its pages)."""
    from desktop.providers.presets import PRESETS

    cls = _COMPAT_CLASSES.get(kind)
    if cls is None:
        preset = PRESETS[kind]
        cls = type(
            f"{preset.display_name.replace(' ', '')}Provider",
            (OpenAICompatProvider,),
            {"kind": kind, "needs_key": preset.needs_key, "local": preset.local,
             "supports_usage_in_stream": preset.supports_usage_in_stream,
             "__module__": __name__},
        )
        _COMPAT_CLASSES[kind] = cls
    return cls

