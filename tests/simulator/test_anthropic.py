"""The simulator driven by the official anthropic SDK (sync and async)."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.simulator import Fault, UsageRecord, count_input_tokens, default_reply, split_chunks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MSGS = [{"role": "user", "content": "Write a haiku about routers please"}]
SYSTEM = "You are a poet."
ALL = [{"role": "system", "content": SYSTEM}] + MSGS  # what the token count covers
RAW_HEADERS = {"x-api-key": "sk-test-key", "anthropic-version": "2023-06-01"}


def client(sim, key="sk-test-key"):
    return anthropic.Anthropic(base_url=sim.anthropic_url, api_key=key, max_retries=0, timeout=10)


def test_non_stream_message(sim):
    m = client(sim).messages.create(model="claude-3-5-haiku-latest", max_tokens=256, system=SYSTEM, messages=MSGS)
    assert m.type == "message" and m.role == "assistant" and m.stop_reason == "end_turn"
    assert m.content[0].text == default_reply(ALL)
    assert m.usage.input_tokens == count_input_tokens(ALL) == (4 + 3) + (6 + 3)
    assert m.usage.output_tokens == len(default_reply(ALL).split())
    assert sim.usage_log == [
        UsageRecord("anthropic", "claude-3-5-haiku-latest", m.usage.input_tokens, m.usage.output_tokens)]
    req = sim.requests[-1]
    assert req.path == "/v1/messages" and "anthropic-version" in req.headers
    # this SDK version sends the key as a Bearer token; raw clients send x-api-key: both accepted
    assert req.headers.get("x-api-key") == "sk-test-key" or req.headers["authorization"] == "Bearer sk-test-key"


def test_raw_x_api_key(sim):
    r = httpx.post(sim.anthropic_url + "/v1/messages", headers=RAW_HEADERS,
                   json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": MSGS})
    assert r.status_code == 200 and r.json()["usage"]["output_tokens"] == 5
    r = httpx.post(sim.anthropic_url + "/v1/messages", headers={"x-api-key": "bad", "anthropic-version": "2023-06-01"},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": MSGS})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(sim.anthropic_url + "/v1/messages", headers=RAW_HEADERS,
                   json={"model": "claude-sonnet-4-5", "messages": MSGS})
    assert r.status_code == 400 and r.json()["error"]["message"] == "max_tokens: Field required"


def test_stream_helper_text_and_final_usage(sim):
    with client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=256, system=SYSTEM, messages=MSGS) as s:
        deltas = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(deltas) == default_reply(ALL) and len(deltas) == len(split_chunks(default_reply(ALL)))
    assert final.usage.input_tokens == count_input_tokens(ALL)
    assert final.usage.output_tokens == len(default_reply(ALL).split())
    assert final.stop_reason == "end_turn"
    assert sim.usage_log == [
        UsageRecord("anthropic", "claude-sonnet-4-5", final.usage.input_tokens, final.usage.output_tokens)]


def test_raw_event_order(sim):
    stream = client(sim).messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=MSGS, stream=True)
    events = [e.type for e in stream]
    assert events[:2] == ["message_start", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events.count("content_block_delta") == 5  # max_tokens=5 truncates to 5 words


async def test_async_stream(sim):
    c = anthropic.AsyncAnthropic(base_url=sim.anthropic_url, api_key="sk-test-key", max_retries=0, timeout=10)
    async with c.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=MSGS) as s:
        text = "".join([t async for t in s.text_stream])
        final = await s.get_final_message()
    await c.close()
    assert text == default_reply(MSGS)
    assert final.usage.output_tokens == len(text.split())


def test_models_list(sim):
    assert [m.id for m in client(sim).models.list()] == ["claude-3-5-haiku-latest", "claude-sonnet-4-5"]
    sim.models["anthropic"].append("claude-opus-4-1")
    assert "claude-opus-4-1" in [m.id for m in client(sim).models.list()]


def test_wrong_key(sim):
    with pytest.raises(anthropic.AuthenticationError) as ei:
        client(sim, key="sk-ant-wrong-secret").messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MSGS)
    assert ei.value.status_code == 401
    assert ei.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    assert "secret" not in ei.value.response.text


def test_missing_version_header(sim):
    r = httpx.post(sim.anthropic_url + "/v1/messages", headers={"x-api-key": "sk-test-key"},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": MSGS})
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]


def test_unknown_model(sim):
    with pytest.raises(anthropic.NotFoundError) as ei:
        client(sim).messages.create(model="claude-9", max_tokens=10, messages=MSGS)
    assert ei.value.body == {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}}


@pytest.mark.parametrize(
    "fault, exc, status, err_type, text",
    [
        (Fault("auth_invalid"), anthropic.AuthenticationError, 401, "authentication_error", "invalid x-api-key"),
        (Fault("auth_invalid", status=403), anthropic.PermissionDeniedError, 403, "authentication_error", None),
        (Fault("quota_exhausted"), anthropic.BadRequestError, 400, "invalid_request_error",
         "credit balance is too low"),
        (Fault("rate_limited", retry_after=3), anthropic.RateLimitError, 429, "rate_limit_error", "rate limit"),
        (Fault("overloaded"), anthropic.InternalServerError, 529, "overloaded_error", "Overloaded"),
        (Fault("server_error"), anthropic.InternalServerError, 500, "api_error", None),
        (Fault("server_error_html"), anthropic.InternalServerError, 502, None, "502 Bad Gateway"),
        (Fault("gateway_timeout"), anthropic.InternalServerError, 504, None, "504 Gateway Time-out"),
        (Fault("model_not_found"), anthropic.NotFoundError, 404, "not_found_error", "model: claude-sonnet-4-5"),
        (Fault("context_too_long"), anthropic.BadRequestError, 400, "invalid_request_error",
         "prompt is too long: 210000 tokens > 200000 maximum"),
        (Fault("content_filtered"), anthropic.BadRequestError, 400, "invalid_request_error", "content filtering"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_http_faults(sim, fault, exc, status, err_type, text, stream):
    sim.inject(fault)
    with pytest.raises(exc) as ei:
        if stream:
            with client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS) as s:
                list(s.text_stream)
        else:
            client(sim).messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS)
    e = ei.value
    assert e.status_code == status
    if err_type:
        assert e.body["error"]["type"] == err_type
    if text:
        assert text in e.response.text
    if fault.retry_after:
        assert e.response.headers["retry-after"] == "3"
    if status == 529:
        assert isinstance(e, anthropic.OverloadedError)
    assert sim.usage_log == []


def test_midstream_error_event(sim):
    sim.inject(Fault("midstream_error", after_chunks=2))
    got = []
    with (pytest.raises(anthropic.APIStatusError) as ei,
          client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS) as s):
        for t in s.text_stream:
            got.append(t)
    assert ei.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert "".join(got) == "".join(split_chunks(default_reply(MSGS))[:2])
    assert sim.usage_log == []


def _transport_error_types() -> list[type[Exception]]:
    found: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2
    except ImportError:
        return found
    return [*found, httpx2.TransportError]


def test_cut_stream(sim):
    sim.inject(Fault("cut", after_chunks=3))
    got = []
    # anthropic 2.x does not wrap transport errors raised while iterating a stream: they come
    # from its HTTP stack (httpx2 since anthropic 2.x, httpx before)
    transport_errors = tuple(_transport_error_types())
    with (pytest.raises((anthropic.APIConnectionError, *transport_errors)) as ei,
          client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS) as s):
        for t in s.text_stream:
            got.append(t)
    assert not isinstance(ei.value, anthropic.APIStatusError)
    assert "incomplete chunked read" in str(ei.value) or isinstance(ei.value, anthropic.APIConnectionError)
    assert len(got) == 3 and sim.usage_log == []


def test_malformed_stream(sim):
    sim.inject(Fault("malformed_sse", after_chunks=1))
    with (pytest.raises(ValueError),  # json.JSONDecodeError from the SDK's event parsing
          client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS) as s):
        list(s.text_stream)


def test_slow_first_token_released(sim):
    import threading

    sim.inject(Fault("slow_first_token", delay=30))
    out = {}

    def run():
        with client(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MSGS) as s:
            out["text"] = "".join(s.text_stream)

    t = threading.Thread(target=run)
    t.start()
    t.join(0.3)
    assert t.is_alive()
    sim.release_stalls()
    t.join(5)
    assert out["text"] == default_reply(MSGS)
