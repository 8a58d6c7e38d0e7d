"""Ollama's native API: /api/chat (NDJSON), /api/tags, /api/show, /api/pull, /api/delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

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
from desktop.providers.classify import bad_response, classify_error_payload, classify_transport_error
from desktop.providers.stream_end import broke_off

__all__ = ["OllamaProvider", "OllamaLineParser", "PullProgress"]


def _int(x: Any) -> int | None:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        return None
    return x


@dataclass(frozen=True)
class PullProgress:
    """One line of ``ollama pull`` progress; ``completed``/``total`` are bytes when known."""

    status: str
    completed: int | None = None
    total: int | None = None
    digest: str | None = None

    @property
    def fraction(self) -> float | None:
        if self.total and self.completed is not None:
            return min(1.0, self.completed / self.total)
        return None


class OllamaLineParser:
    """Turns /api/chat NDJSON lines into StreamEvents; ``done: true`` ends the stream with
    UsageReport(prompt_eval_count, eval_count) and StreamEnd(done_reason)."""

    def __init__(self, *, provider: str | None, kind: str | None, model: str | None) -> None:
        self.ctx: dict[str, Any] = {"provider": provider, "kind": kind, "model": model}
        self.done = False
        self.text_seen = False  # an error line after text interrupts the answer (text kept)

    def feed(self, line: str) -> list[StreamEvent]:
        if self.done:
            return []
        text = line.strip()
        if not text:
            return []
        try:
            obj = json.loads(text)
        except ValueError:
            raise bad_response("a malformed stream line", detail=text, **self.ctx) from None
        if not isinstance(obj, dict):
            raise bad_response("a stream line that isn't an object", detail=text, **self.ctx)
        if obj.get("error"):
            raise broke_off(obj, **self.ctx) if self.text_seen else classify_error_payload(obj, **self.ctx)
        out: list[StreamEvent] = []
        message = obj.get("message")
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, str) and content:
                out.append(TextDelta(content))
        elif isinstance(obj.get("response"), str) and obj["response"]:  # /api/generate shape
            out.append(TextDelta(obj["response"]))
        self.text_seen = self.text_seen or bool(out)
        if obj.get("done") is True:
            self.done = True
            i, o = _int(obj.get("prompt_eval_count")), _int(obj.get("eval_count"))
            if i is not None or o is not None:
                out.append(UsageReport(Usage(i or 0, o or 0)))
            reason = obj.get("done_reason")
            out.append(StreamEnd(reason if isinstance(reason, str) else "stop"))
        return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


async def _ndjson_lines(response: httpx.Response) -> AsyncIterator[tuple[str, bool]]:
    """(line, complete) pairs; the last may be incomplete when the body ends mid-line."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            yield line.rstrip("\r"), True
    if buffer.strip():
        yield buffer, False


class OllamaProvider(Provider):
    kind = "ollama"
    local = True
    needs_key = False
    supports_usage_in_stream = True

    def _headers(self) -> dict[str, str]:
        # Ollama has no keys, but a proxy in front of it may want one.
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    @staticmethod
    def build_body(model: str, messages: list[ChatMessage], max_tokens: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if max_tokens is not None:
            body["options"] = {"num_predict": max_tokens}
        return body

    async def _stream(
        self, model: str, messages: list[ChatMessage], max_tokens: int | None, state: StreamState
    ) -> AsyncIterator[StreamEvent]:
        parser = OllamaLineParser(provider=self.name, kind=self.kind, model=model)
        async with self.client.stream(
            "POST", self._url("api/chat"), json=self.build_body(model, messages, max_tokens),
            headers=self._headers(), timeout=self.timeouts.as_httpx(),
        ) as response:
            await self._raise_for_status(response, model)
            state.started = True
            lines = _ndjson_lines(response)
            async for line, complete in lines:
                if not complete and not _is_json(line):
                    # The body ended in the middle of a line: the stream broke off.
                    raise self._interrupted(model, state)
                events = parser.feed(line)
                if line.strip():
                    state.tick()
                for event in events:
                    yield event
                if parser.done:
                    await read_to_end(lines)
                    return
            raise self._interrupted(model, state)

    async def list_models(self) -> list[ModelInfo]:
        data = await self._request_json("GET", "api/tags")
        items = data.get("models") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise self._scrub(bad_response("a model list RouteDesk couldn't read", provider=self.name,
                                           kind=self.kind, model=None, detail=str(data)[:200]))
        out: list[ModelInfo] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            name = item.get("name") or item.get("model")
            if not isinstance(name, str) or not name:
                continue
            details = as_mapping(item.get("details"))
            ps = details.get("parameter_size")
            q = details.get("quantization_level")
            out.append(ModelInfo(
                ModelRef(self.name, name), local=True, size_bytes=_int(item.get("size")),
                parameter_size=ps if isinstance(ps, str) and ps else None,
                quantization=q if isinstance(q, str) and q else None,
            ))
        return out

    async def show(self, model: str) -> ModelInfo:
        """Details of one model, with its context length (``model_info["<arch>.context_length"]``)."""
        data = await self._request_json("POST", "api/show", model=model, json_body={"model": model})
        if not isinstance(data, dict):
            raise self._scrub(bad_response("model details RouteDesk couldn't read", provider=self.name,
                                           kind=self.kind, model=model, detail=str(data)[:200]))
        info = as_mapping(data.get("model_info"))
        ctx = None
        for key, value in info.items():
            if isinstance(key, str) and key.endswith(".context_length") and _int(value):
                ctx = _int(value)
                break
        details = as_mapping(data.get("details"))
        ps, q = details.get("parameter_size"), details.get("quantization_level")
        return ModelInfo(
            ModelRef(self.name, model), local=True, context_length=ctx,
            parameter_size=ps if isinstance(ps, str) and ps else None,
            quantization=q if isinstance(q, str) and q else None,
        )

    async def context_length(self, model: str) -> int | None:
        return (await self.show(model)).context_length

    async def check(self) -> str | None:
        data = await self._request_json("GET", "api/version", timeout=self.timeouts.connect)
        version = data.get("version") if isinstance(data, dict) else None
        return version if isinstance(version, str) else None

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download a model; yields progress lines, the last one with status "success"."""
        started = False
        try:
            async with self.client.stream(
                "POST", self._url("api/pull"), json={"model": model, "stream": True},
                headers=self._headers(),
                timeout=httpx.Timeout(connect=self.timeouts.connect, read=max(self.timeouts.read, 300.0),
                                      write=self.timeouts.write, pool=self.timeouts.pool),
            ) as response:
                await self._raise_for_status(response, model)
                started = True
                success = False
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        raise bad_response("a malformed progress line", provider=self.name, kind=self.kind,
                                           model=model, detail=line) from None
                    if not isinstance(obj, dict):
                        continue
                    if obj.get("error"):
                        raise classify_error_payload(obj, **self._ctx(model))
                    raw_status = obj.get("status")
                    status = raw_status if isinstance(raw_status, str) else ""
                    digest = obj.get("digest") if isinstance(obj.get("digest"), str) else None
                    yield PullProgress(status, _int(obj.get("completed")), _int(obj.get("total")), digest)
                    if status == "success":
                        success = True
                if not success:
                    raise self._interrupted(model, StreamState(self.timeouts))
        except RouteDeskError as err:
            raise self._scrub(err) from None
        except GeneratorExit:
            raise
        except Exception as exc:
            raise self._scrub(classify_transport_error(exc, midstream=started, **self._ctx(model))) from None

    async def delete(self, model: str) -> None:
        """Remove a downloaded model (404 → model_not_found)."""
        try:
            response = await self.client.request(
                "DELETE", self._url("api/delete"), json={"model": model}, headers=self._headers(),
                timeout=self.timeouts.as_httpx(),
            )
            await self._raise_for_status(response, model)
        except RouteDeskError as err:
            raise self._scrub(err) from None
        except Exception as exc:
            raise self._scrub(classify_transport_error(exc, midstream=False, **self._ctx(model))) from None
