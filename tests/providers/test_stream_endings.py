"""How streams end, fuzzed: every end reason each protocol has survives any chunking, line
ending and keep-alive comment; an error sent after text always interrupts the answer with
exactly that text and the provider's words as detail (before any text it is classified, so a
fallback may answer); the model a provider names and the cost it reports reach StreamEnd.
Then the same against the simulator over real HTTP: keep-alive comments keep a started
stream alive, and a plain Messages body answers an Anthropic stream request."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import StreamEnd, TextDelta, Usage, UsageReport
from desktop.providers import Timeouts, make_provider
from tests.simulator import Fault

from .test_streams import KEY, MSGS, WIRES, anthropic_wire, chunked, ollama_wire, run, text_pieces

REASONS = {"openai": ["stop", "length", "content_filter"],
           "anthropic": ["end_turn", "max_tokens", "refusal", "model_context_window_exceeded"],
           "ollama": ["stop", "length"]}


def openai_wire(pieces, usage, finish="stop", eol="\n", *, model="m", cost=None, comments=()):
    """OpenAI's chunk shapes (https://platform.openai.com/docs/api-reference/chat/streaming) with
    OpenRouter's additions: ``: OPENROUTER PROCESSING`` comments and ``usage.cost``
    (https://openrouter.ai/docs/api/reference/streaming)."""
    out = []

    def ev(obj):
        out.append(f"data: {json.dumps(obj)}{eol}{eol}")

    def comment(i):
        if i in comments:
            out.append(f": OPENROUTER PROCESSING{eol}{eol}")

    ev({"model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for i, p in enumerate(pieces):
        comment(i)
        ev({"model": model, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
    comment(len(pieces))
    ev({"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    u = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    if cost is not None:
        u["cost"] = cost
    ev({"model": model, "choices": [], "usage": u})
    out.append(f"data: [DONE]{eol}{eol}")
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(WIRES)), pieces=text_pieces, data=st.data(),
       cuts=st.lists(st.integers(0, 10**5), max_size=20), eol=st.sampled_from(["\n", "\r\n", "\r"]))
def test_every_end_reason_survives_any_chunking(kind, pieces, data, cuts, eol):
    finish = data.draw(st.sampled_from(REASONS[kind]))
    if kind == "openai":
        comments = data.draw(st.sets(st.integers(0, len(pieces))))
        wire = openai_wire(pieces, (5, 7), finish, eol, comments=comments)
    else:
        build = anthropic_wire if kind == "anthropic" else ollama_wire
        wire, _ = build(pieces, (5, 7), finish, eol=eol if kind == "anthropic" else "\n")
    events, error = asyncio.run(run(kind, chunked(wire.encode(), cuts), WIRES[kind][1]))
    assert error is None, (error.kind, error.message)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(pieces)
    assert [e for e in events if isinstance(e, UsageReport)] == [UsageReport(Usage(5, 7))]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == finish


def _error_after(kind: str, pieces: list[str], k: int, message: str) -> str:
    """The protocol's own error-in-stream shape after ``k`` pieces."""
    if kind == "openai":  # OpenRouter's documented mid-stream error chunk
        head = openai_wire(pieces[:k], (1, 1)).split("data: {\"model\": \"m\", \"choices\": [{\"index\": 0, "
                                                      "\"delta\": {}")[0]
        chunk = {"id": "cmpl-abc123", "object": "chat.completion.chunk", "model": "m", "provider": "openai",
                 "error": {"code": "server_error", "message": message},
                 "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
        return head + f"data: {json.dumps(chunk)}\n\n"
    if kind == "anthropic":  # Anthropic's "error events" (docs: streaming, error events)
        head = anthropic_wire(pieces[:k], (1, 1))[0].split("event: content_block_stop")[0]
        err = {"type": "error", "error": {"type": "overloaded_error", "message": message}}
        return head + f"event: error\ndata: {json.dumps(err)}\n\n"
    head = ollama_wire(pieces[:k], (1, 1))[0]
    return head[: head.rfind("{\"model\": \"m\", \"message\": {\"role\": \"assistant\", \"content\": \"\"}, "
                             "\"done\": true")] + json.dumps({"error": message}) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(WIRES)), pieces=text_pieces, data=st.data(),
       message=st.text(st.characters(codec="ascii", categories=["L", "N", "Zs"]), min_size=3, max_size=40)
       .filter(str.strip), cuts=st.lists(st.integers(0, 10**4), max_size=10))
def test_an_error_after_text_interrupts_with_that_text(kind, pieces, data, message, cuts):
    k = data.draw(st.integers(0, len(pieces)))
    wire = _error_after(kind, pieces, k, message)
    events, error = asyncio.run(run(kind, chunked(wire.encode(), cuts), WIRES[kind][1]))
    seen = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert seen == "".join(pieces[:k]) and not any(isinstance(e, StreamEnd) for e in events)
    assert error is not None
    if seen:
        assert error.kind is ErrorKind.INTERRUPTED and error.code == "stream_error"
        assert error.detail == message.strip()
    else:
        assert error.kind is not ErrorKind.INTERRUPTED  # nothing shown yet: classified, may fall back


@settings(max_examples=80, deadline=None)
@given(named=st.sampled_from(["m", "m-2024-08-06", "m-latest", "other-model", "vendor/other"]),
       cost=st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=8).map(float)))
def test_the_named_model_and_reported_cost_reach_stream_end(named, cost):
    wire = openai_wire(["a"], (2, 3), model=named, cost=cost)
    events, error = asyncio.run(run("openai", chunked(wire.encode(), []), "text/event-stream"))
    end = events[-1]
    assert error is None and isinstance(end, StreamEnd)
    assert end.served_model == (named if named in ("other-model", "vendor/other") else None)
    assert end.reported_cost == (None if cost is None else Decimal(str(cost)))


@pytest.mark.parametrize(("fallbacks", "named", "served"), [
    ("0", "m-2024-08-06", None),  # a dated snapshot of the model asked for: the same model
    ("1", "m-2024-08-06", "m-2024-08-06"),  # LiteLLM says it fell back: the name is the news
    ("0", "other", "other"),
])
async def test_litellm_headers_name_the_fallback_and_price_the_call(fallbacks, named, served):
    wire = openai_wire(["a"], (2, 3), model=named)

    def handler(request):
        return httpx.Response(200, content=wire.encode(), headers={
            "content-type": "text/event-stream", "x-litellm-attempted-fallbacks": fallbacks,
            "x-litellm-response-cost": "0.00012"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        p = make_provider("openai-compatible", "proxy", "http://h/v1", None, c, Timeouts(connect=1, read=5))
        events = [e async for e in p.stream_chat("m", MSGS)]
    assert events[-1] == StreamEnd("stop", served_model=served, reported_cost=Decimal("0.00012"))


async def test_anthropic_plain_messages_body_is_read_as_the_answer():
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": "Half of "}, {"type": "text", "text": "it"}],
            "stop_reason": "max_tokens", "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 4}}
    events, error = await run("anthropic", chunked(json.dumps(body).encode(), [5]), "application/json")
    assert error is None
    assert events == [TextDelta("Half of it"), UsageReport(Usage(9, 4)), StreamEnd("max_tokens")]
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events, error = await run("anthropic", chunked(json.dumps(err).encode(), []), "application/json")
    assert events == [] and error.kind is ErrorKind.OVERLOADED


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


async def _stream(sim, client, timeouts):
    p = make_provider("openrouter", "or", sim.openrouter_url, KEY, client, timeouts)
    sim.valid_keys.add(KEY)
    text, error = "", None
    try:
        async for e in p.stream_chat("openai/gpt-4o-mini", MSGS):
            if isinstance(e, TextDelta):
                text += e.text
    except RouteDeskError as err:
        error = err
    return text, error


async def test_keepalive_comments_keep_a_started_stream_alive(sim, client):
    sim.inject(Fault("keepalive", after_chunks=2, delay=1.0))  # 1 s of comments only
    text, error = await _stream(sim, client, Timeouts(connect=2, read=0.3))
    assert error is None and text == sim.reply([{"role": m.role, "content": m.content} for m in MSGS])
    sim.inject(Fault("stall", after_chunks=2, delay=1.0))  # 1 s of silence: stalled
    text, error = await _stream(sim, client, Timeouts(connect=2, read=0.3))
    assert error is not None and error.kind is ErrorKind.TIMEOUT


async def test_keepalive_comments_do_not_count_as_a_first_token(sim, client):
    sim.inject(Fault("keepalive", after_chunks=0, delay=1.0))
    text, error = await _stream(sim, client, Timeouts(connect=2, read=5, first_token=0.3))
    assert text == "" and error is not None and error.kind is ErrorKind.TIMEOUT
    sim.release_stalls()
