"""Stream parsing through a mock transport: hypothesis round-trips (any text, any chunking,
any line endings), truncation anywhere, garbage in any event; request shapes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ChatMessage, StreamEnd, TextDelta, Usage, UsageReport
from desktop.providers import Timeouts, make_provider
from desktop.providers.anthropic import AnthropicStreamParser
from desktop.providers.ollama import OllamaLineParser
from desktop.providers.openai_compat import OpenAIStreamParser

from .conftest import assert_well_formed

KEY = "sk-unit-test-key-0123456789abcdef"
MSGS = [ChatMessage("system", "sys one"), ChatMessage("system", "sys two"), ChatMessage("user", "hi")]


# --- wire builders ----------------------------------------------------------------------


def openai_wire(pieces, usage, finish="stop", eol="\n"):
    out = []

    def ev(obj):
        out.append(f"data: {json.dumps(obj)}{eol}{eol}")

    ev({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    out.append(f": keep-alive comment{eol}{eol}")
    for p in pieces:
        ev({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}], "usage": None})
    ev({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage is not None:
        ev(
            {
                "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
            }
        )
    end = len("".join(out))
    out.append(f"data: [DONE]{eol}{eol}")
    return "".join(out), end


def anthropic_wire(pieces, usage, finish="end_turn", eol="\n"):
    out = []

    def ev(name, obj):
        out.append(f"event: {name}{eol}data: {json.dumps(obj)}{eol}{eol}")

    ev(
        "message_start",
        {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": usage[0], "output_tokens": 1}}},
    )
    ev(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    ev("ping", {"type": "ping"})
    for p in pieces:
        ev(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
    ev("content_block_stop", {"type": "content_block_stop", "index": 0})
    ev(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": finish}, "usage": {"output_tokens": usage[1]}},
    )
    end = len("".join(out))
    ev("message_stop", {"type": "message_stop"})
    return "".join(out), end


def ollama_wire(pieces, usage, finish="stop", eol="\n"):
    out = []
    for p in pieces:
        out.append(json.dumps({"model": "m", "message": {"role": "assistant", "content": p}, "done": False}) + eol)
    end = len("".join(out))
    out.append(
        json.dumps(
            {
                "model": "m",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": finish,
                "prompt_eval_count": usage[0],
                "eval_count": usage[1],
            }
        )
        + eol
    )
    return "".join(out), end


WIRES = {
    "openai": (openai_wire, "text/event-stream; charset=utf-8"),
    "anthropic": (anthropic_wire, "text/event-stream"),
    "ollama": (ollama_wire, "application/x-ndjson"),
}


def chunked(data: bytes, cuts: list[int]):
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    parts = [data[a:b] for a, b in zip(points, points[1:], strict=False)]

    async def gen():
        for part in parts:
            yield part

    return gen


def mock_client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


_QUICK = Timeouts(connect=1, read=5)


async def run(kind, body_bytes_gen, ctype, status=200, timeouts=_QUICK):
    def handler(request):
        return httpx.Response(status, headers={"content-type": ctype}, content=body_bytes_gen())

    async with mock_client(handler) as client:
        base = {"openai": "http://h/v1", "anthropic": "http://h", "ollama": "http://h"}[kind]
        p = make_provider(kind, kind, base, KEY if kind != "ollama" else None, client, timeouts)
        events, error = [], None
        try:
            async for e in p.stream_chat("m", MSGS):
                events.append(e)
        except RouteDeskError as err:
            error = err
        return events, error


text_pieces = st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s), min_size=0, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(WIRES)),
    pieces=text_pieces,
    usage=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    cuts=st.lists(st.integers(0, 10**5), max_size=20),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_round_trip_any_chunking(kind, pieces, usage, cuts, eol):
    build, ctype = WIRES[kind]
    wire, _ = build(pieces, usage, eol=eol)
    events, error = asyncio.run(run(kind, chunked(wire.encode(), cuts), ctype))
    assert error is None, (error.kind, error.message, error.detail)
    assert_well_formed(events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(pieces)
    assert [e for e in events if isinstance(e, UsageReport)] == [UsageReport(Usage(*usage))]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(WIRES)), pieces=text_pieces, data=st.data())
def test_truncated_anywhere_before_the_end_marker_is_interrupted(kind, pieces, data):
    build, ctype = WIRES[kind]
    wire, end = build(pieces, (5, 7))
    raw = wire.encode()
    end_b = len(wire[:end].encode())
    cut = data.draw(st.integers(0, end_b))
    events, error = asyncio.run(run(kind, chunked(raw[:cut], [cut // 2]), ctype))
    assert error is not None and error.kind is ErrorKind.INTERRUPTED, (cut, error and error.message)
    assert not any(isinstance(e, StreamEnd) for e in events)
    assert "".join(pieces).startswith("".join(e.text for e in events if isinstance(e, TextDelta)))


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(WIRES)), garbage=st.binary(max_size=200), cuts=st.lists(st.integers(0, 300), max_size=5)
)
def test_random_bytes_only_ever_raise_route_desk_errors(kind, garbage, cuts):
    _, ctype = WIRES[kind]
    events, error = asyncio.run(run(kind, chunked(garbage, cuts), ctype))
    assert error is not None or isinstance(events[-1], StreamEnd)


@settings(max_examples=300, deadline=None)
@given(
    event=st.one_of(
        st.sampled_from(
            ["message", "error", "message_start", "content_block_delta", "message_delta", "message_stop", "ping"]
        ),
        st.text(max_size=10),
    ),
    data=st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "type",
                            "delta",
                            "text",
                            "usage",
                            "choices",
                            "content",
                            "message",
                            "error",
                            "done",
                            "input_tokens",
                            "output_tokens",
                            "prompt_tokens",
                            "finish_reason",
                            "stop_reason",
                            "eval_count",
                            "code",
                        ]
                    ),
                    c,
                    max_size=4,
                )
            ),
            max_leaves=20,
        ).map(json.dumps),
    ),
)
def test_parsers_are_total(event, data):
    for parser in (
        OpenAIStreamParser(provider="p", kind="openai", model="m"),
        AnthropicStreamParser(provider="p", kind="anthropic", model="m"),
    ):
        try:
            out = parser.feed(event, data)
        except RouteDeskError:
            continue
        assert all(isinstance(e, (TextDelta, UsageReport, StreamEnd)) for e in out)
    try:
        out = OllamaLineParser(provider="p", kind="ollama", model="m").feed(data)
        assert all(isinstance(e, (TextDelta, UsageReport, StreamEnd)) for e in out)
    except RouteDeskError:
        pass


# --- specific behaviours ----------------------------------------------------------------


async def test_openai_without_usage_still_ends():
    wire, _ = openai_wire(["a", "b"], None)
    events, error = await run("openai", chunked(wire.encode(), []), "text/event-stream")
    assert error is None and [type(e) for e in events] == [TextDelta, TextDelta, StreamEnd]


async def test_openai_error_event_in_stream():
    body = (b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
            b'event: error\ndata: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n')
    events, error = await run("openai", chunked(body, []), "text/event-stream")
    # after text the answer is interrupted (its text kept); the provider's words are the detail
    assert events == [TextDelta("Hi")] and error.kind is ErrorKind.INTERRUPTED
    assert error.code == "stream_error" and error.detail == "Overloaded"


async def test_openai_error_event_before_text_is_classified():
    body = b'event: error\ndata: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n'
    events, error = await run("openai", chunked(body, []), "text/event-stream")
    assert events == [] and error.kind is ErrorKind.OVERLOADED  # nothing seen yet: a fallback may answer


async def test_openai_ignores_stream_and_answers_json():
    body = json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    ).encode()
    events, error = await run("openai", chunked(body, []), "application/json")
    assert error is None
    assert events == [TextDelta("whole"), UsageReport(Usage(3, 1)), StreamEnd("stop")]


async def test_non_stream_garbage_200_is_bad_response():
    events, error = await run("openai", chunked(b"<html>proxy login</html>", []), "text/html")
    assert error.kind is ErrorKind.BAD_RESPONSE
    events, error = await run("anthropic", chunked(b"{}", []), "application/json")
    assert error.kind is ErrorKind.BAD_RESPONSE


async def test_stream_options_rejected_then_remembered():
    seen = []

    def handler(request):
        body = json.loads(request.content)
        seen.append(body)
        if "stream_options" in body:
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Unrecognized request argument supplied: stream_options",
                        "type": "invalid_request_error",
                    }
                },
            )
        wire, _ = openai_wire(["ok"], None)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())

    async with mock_client(handler) as client:
        p = make_provider("openai-compatible", "lab", "http://lab:8000", None, client)
        for _ in range(2):
            events = [e async for e in p.stream_chat("m", MSGS)]
            assert events == [TextDelta("ok"), StreamEnd("stop")]
    assert ["stream_options" in b for b in seen] == [True, False, False]
    assert p.stream_options_ok is False


async def test_with_base_url_is_an_independent_provider():
    """What one server taught a provider (no stream_options here) is not assumed of another
    address, and the original keeps its own address; the key and client go along."""
    seen = []

    def handler(request):
        body = json.loads(request.content)
        seen.append((request.url.host, "stream_options" in body, request.headers.get("authorization")))
        if "stream_options" in body and request.url.host == "lab":
            rejected = "Unrecognized request argument supplied: stream_options"
            return httpx.Response(400, json={"error": {"message": rejected, "type": "invalid_request_error"}})
        wire, _ = openai_wire(["ok"], None)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())

    async with mock_client(handler) as client:
        p = make_provider("openai-compatible", "lab", "http://lab:8000", "k-123456", client)
        [e async for e in p.stream_chat("m", MSGS)]
        p.completion_tokens_models.add("o1")  # learned from the first server
        twin = p.with_base_url("http://other:9000/v1")
        assert twin.completion_tokens_models == set()
        events = [e async for e in twin.stream_chat("m", MSGS)]
        assert events == [TextDelta("ok"), StreamEnd("stop")]
        twin.stream_options_ok = False
    assert seen[-1] == ("other", True, "Bearer k-123456")
    assert p.base_url == "http://lab:8000/v1" and twin.base_url == "http://other:9000/v1"
    assert p.stream_options_ok is False and type(twin) is type(p) and twin.name == "lab"


async def test_max_completion_tokens_when_asked_for():
    seen = []

    def handler(request):
        body = json.loads(request.content)
        seen.append(body)
        if "max_tokens" in body and body["model"].startswith("o"):
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                        "Use 'max_completion_tokens' instead.",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": "unsupported_parameter",
                    }
                },
            )
        wire, _ = openai_wire(["ok"], (1, 1))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())

    async with mock_client(handler) as client:
        p = make_provider("openai", "openai", None, KEY, client)
        for _ in range(2):
            events = [e async for e in p.stream_chat("o3-mini", MSGS, max_tokens=9)]
            assert events[0] == TextDelta("ok") and isinstance(events[-1], StreamEnd)
        [e async for e in p.stream_chat("gpt-4o", MSGS, max_tokens=9)]
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in seen] == [
        (True, None),
        (False, 9),
        (False, 9),
        (True, None),
    ]


async def test_other_400_is_not_retried():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "bad temperature", "type": "invalid_request_error"}})

    async with mock_client(handler) as client:
        p = make_provider("openai-compatible", "lab", "http://lab:8000", None, client)
        with pytest.raises(RouteDeskError) as info:
            async for _ in p.stream_chat("m", MSGS):
                pass
    assert len(calls) == 1 and info.value.kind is ErrorKind.MISCONFIGURED and "bad temperature" in info.value.detail


async def test_request_shapes():
    seen = {}

    def handler(request):
        seen[request.url.path] = (dict(request.headers), json.loads(request.content))
        if request.url.path.endswith("/messages"):
            wire, _ = anthropic_wire(["x"], (1, 1))
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())
        if request.url.path == "/api/chat":
            wire, _ = ollama_wire(["x"], (1, 1))
            return httpx.Response(200, content=wire.encode())
        wire, _ = openai_wire(["x"], (1, 1))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())

    async with mock_client(handler) as client:
        for kind, base, key in [
            ("openrouter", "http://or/api/v1", KEY),
            ("anthropic", "http://an", KEY),
            ("ollama", "http://ol", None),
        ]:
            p = make_provider(kind, kind, base, key, client)
            [e async for e in p.stream_chat("m", MSGS, max_tokens=33)]
            [e async for e in p.stream_chat("m", MSGS)]

    h, b = seen["/api/v1/chat/completions"]
    assert h["authorization"] == f"Bearer {KEY}" and h["http-referer"] and h["x-title"] == "RouteDesk"
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}
    assert b["messages"][0] == {"role": "system", "content": "sys one"}
    h, b = seen["/v1/messages"]
    assert h["x-api-key"] == KEY and h["anthropic-version"] == "2023-06-01" and "authorization" not in h
    assert b["system"] == "sys one\n\nsys two" and b["messages"] == [{"role": "user", "content": "hi"}]
    assert b["max_tokens"] == 4096 and b["stream"] is True  # the last call had no max_tokens
    h, b = seen["/api/chat"]
    assert "authorization" not in h and b["stream"] is True and "options" not in b


async def test_missing_key_is_misconfigured_before_any_request():
    calls = []
    async with mock_client(lambda r: calls.append(r) or httpx.Response(200)) as client:
        p = make_provider("openai", "work", None, None, client)
        with pytest.raises(RouteDeskError) as info:
            async for _ in p.stream_chat("gpt-4o", MSGS):
                pass
    assert info.value.kind is ErrorKind.MISCONFIGURED and "OPENAI_API_KEY" in str(info.value.fix) and not calls


async def test_redirect_is_misconfigured():
    async with mock_client(
        lambda r: httpx.Response(301, headers={"location": "https://h/v1/chat/completions"})
    ) as client:
        p = make_provider("openai-compatible", "lab", "http://h", None, client)
        with pytest.raises(RouteDeskError) as info:
            async for _ in p.stream_chat("m", MSGS):
                pass
    assert info.value.kind is ErrorKind.MISCONFIGURED and "https://h" in str(info.value.fix)


async def test_slow_consumer_is_not_a_timeout():
    wire, _ = openai_wire(["a", "b", "c"], (1, 3))
    async with mock_client(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())
    ) as client:
        p = make_provider("openai", "o", "http://h/v1", KEY, client, Timeouts(connect=1, read=0.05))
        out = []
        async for e in p.stream_chat("m", MSGS):
            await asyncio.sleep(0.1)  # longer than the read limit, on the consumer's side
            out.append(e)
    assert isinstance(out[-1], StreamEnd)


async def test_closing_the_stream_early_is_clean():
    wire, _ = openai_wire(["a", "b", "c"], (1, 3))
    async with mock_client(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire.encode())
    ) as client:
        p = make_provider("openai", "o", "http://h/v1", KEY, client)
        agen = p.stream_chat("m", MSGS)
        first = await agen.__anext__()
        await agen.aclose()
    assert first == TextDelta("a")
