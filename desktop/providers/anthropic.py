"""Anthropic's native Messages API over SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from httpx_sse import aconnect_sse

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
from desktop.providers.base import Provider, StreamState, read_to_end
from desktop.providers.classify import bad_response, classify_error_payload, classify_http_error
from desktop.providers.sse import iter_sse
from desktop.providers.stream_end import broke_off, served

__all__ = ["AnthropicProvider", "AnthropicStreamParser", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS"]

ANTHROPIC_VERSION = "2023-06-01"
#: The Messages API requires max_tokens; this is used when the caller gives none.
DEFAULT_MAX_TOKENS = 4096
#: The most of a non-streamed answer that is read (an error page is read to MAX_ERROR_BODY).
_MAX_BODY = 16 * 1024 * 1024


def _int(x: Any) -> int | None:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        return None
    return x


class AnthropicStreamParser:
    """Turns Messages API SSE events into StreamEvents.

    message_start carries the input usage, content_block_delta/text_delta the text,
    message_delta the output usage and stop_reason, message_stop ends the stream and an
    ``error`` event (e.g. overloaded_error) is classified like an HTTP error before any
    text, and ends the answer as interrupted after some (the text so far is kept).
    message_start's ``model`` names the model that answered.
    """

    def __init__(self, *, provider: str | None, kind: str | None, model: str | None) -> None:
        self.ctx: dict[str, Any] = {"provider": provider, "kind": kind, "model": model}
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.stop_reason: str | None = None
        self.done = False
        self.text_seen = False
        self.model_named: str | None = None

    def _error(self, payload: Any) -> Exception:
        if self.text_seen:
            return broke_off(payload, **self.ctx)
        return classify_error_payload(payload, **self.ctx)

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        if self.done:
            return []
        text = data.strip()
        if not text:
            if event in ("ping", "message"):
                return []
            if event == "message_stop":
                return self._finish()
            if event == "error":
                raise self._error({"error": {"message": "error event without a body"}})
            return []
        try:
            obj = json.loads(text)
        except ValueError:
            if event == "error":
                raise self._error({"error": {"message": text}}) from None
            raise bad_response("a malformed stream event", detail=text, **self.ctx) from None
        if not isinstance(obj, dict):
            raise bad_response("a stream event that isn't an object", detail=text, **self.ctx)
        etype = obj.get("type") if isinstance(obj.get("type"), str) else event
        if event == "error" or etype == "error":
            raise self._error(obj if "error" in obj else {"error": obj})
        if etype == "message_start":
            message = obj.get("message")
            if isinstance(message, dict) and isinstance(message.get("model"), str):
                self.model_named = message["model"]
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                self._usage(usage)
            return []
        if etype == "content_block_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                piece = delta.get("text")
                if isinstance(piece, str) and piece:
                    self.text_seen = True
                    return [TextDelta(piece)]
            return []
        if etype == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self._usage(usage)
            return []
        if etype == "message_stop":
            return self._finish()
        return []  # ping, content_block_start/stop, thinking deltas, future event types

    def _usage(self, usage: dict[str, Any]) -> None:
        i = _int(usage.get("input_tokens"))
        o = _int(usage.get("output_tokens"))
        if i is not None:
            self.input_tokens = i
        if o is not None:
            self.output_tokens = o

    def _finish(self) -> list[StreamEvent]:
        self.done = True
        out: list[StreamEvent] = []
        if self.input_tokens is not None or self.output_tokens is not None:
            out.append(UsageReport(Usage(self.input_tokens or 0, self.output_tokens or 0)))
        out.append(StreamEnd(self.stop_reason, served_model=served(self.ctx["model"], self.model_named)))
        return out

    def complete(self, obj: Any) -> list[StreamEvent]:
        """A plain Messages object (a server or proxy that ignored ``stream: true``): its
        text blocks, usage and stop_reason, as the stream would have carried them."""
        if not isinstance(obj, dict):
            raise bad_response("an answer that isn't an object", detail=str(obj)[:200], **self.ctx)
        if obj.get("type") == "error" or "error" in obj:
            raise classify_error_payload(obj if "error" in obj else {"error": obj}, **self.ctx)
        content = obj.get("content")
        if obj.get("type") != "message" or not isinstance(content, list):
            raise bad_response("an answer with no message content", detail=json.dumps(obj)[:200], **self.ctx)
        if isinstance(obj.get("model"), str):
            self.model_named = obj["model"]
        text = "".join(b["text"] for b in content
                       if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)
        if isinstance(obj.get("stop_reason"), str):
            self.stop_reason = obj["stop_reason"]
        return ([TextDelta(text)] if text else []) + self._finish()


class AnthropicProvider(Provider):
    kind = "anthropic"
    local = False
    needs_key = True
    supports_usage_in_stream = True

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    @staticmethod
    def build_body(model: str, messages: list[ChatMessage], max_tokens: int | None) -> dict[str, Any]:
        """System messages go to the top-level ``system``; the rest keep their order."""
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
            "stream": True,
        }
        if system:
            body["system"] = system
        return body

    async def _stream(
        self, model: str, messages: list[ChatMessage], max_tokens: int | None, state: StreamState
    ) -> AsyncIterator[StreamEvent]:
        parser = AnthropicStreamParser(provider=self.name, kind=self.kind, model=model)
        body = self.build_body(model, messages, max_tokens)
        async with aconnect_sse(
            self.client, "POST", self._url("v1/messages"), json=body,
            headers=self._headers(), timeout=self.timeouts.as_httpx(),
        ) as source:
            response = source.response
            await self._raise_for_status(response, model)
            state.started = True
            if "text/event-stream" not in response.headers.get("content-type", "").lower():
                raw = await self._read_limited(response, limit=_MAX_BODY)
                try:
                    obj = json.loads(raw)
                except ValueError:
                    raise classify_http_error(response.status_code, response.headers, raw,
                                              **self._ctx(model)) from None
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

    async def list_models(self) -> list[ModelInfo]:
        out: list[ModelInfo] = []
        after: str | None = None
        for _ in range(20):  # pages of 1000; a guard, not a limit anyone meets
            path = "v1/models?limit=1000" + (f"&after_id={after}" if after else "")
            data = await self._request_json("GET", path)
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise self._scrub(bad_response("a model list RouteDesk couldn't read", provider=self.name,
                                               kind=self.kind, model=None, detail=str(data)[:200]))
            for item in items:
                mid = item.get("id") if isinstance(item, dict) else None
                if isinstance(mid, str) and mid:
                    out.append(ModelInfo(ModelRef(self.name, mid), local=False))
            if not (isinstance(data, dict) and data.get("has_more") and data.get("last_id")):
                break
            after = str(data["last_id"])
        return out

    async def check(self) -> str | None:
        await self._request_json("GET", "v1/models?limit=1")
        return None
