"""The simulator driven by the official openai SDK (sync and async)."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests.simulator import Fault, UsageRecord, count_input_tokens, count_output_tokens, default_reply, split_chunks

MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Explain TCP slow start briefly"}]


def client(sim, key="sk-test-key", url=None):
    return openai.OpenAI(base_url=url or sim.openai_url, api_key=key, max_retries=0, timeout=10)


def expected_usage(model="gpt-4o-mini", protocol="openai"):
    text = default_reply(MSGS)
    return UsageRecord(protocol, model, count_input_tokens(MSGS), count_output_tokens(text))


def test_non_stream_text_and_usage(sim):
    r = client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert r.object == "chat.completion"
    assert r.choices[0].message.content == default_reply(MSGS)
    assert r.choices[0].finish_reason == "stop"
    # 3 words + 3, 5 words + 3
    assert r.usage.prompt_tokens == 14 == count_input_tokens(MSGS)
    assert r.usage.completion_tokens == len(default_reply(MSGS).split())
    assert sim.usage_log == [expected_usage()]
    assert sim.requests[-1].path == "/v1/chat/completions"
    assert sim.requests[-1].json_body["model"] == "gpt-4o-mini"


def test_stream_with_usage(sim):
    stream = client(sim).chat.completions.create(
        model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == default_reply(MSGS)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == len(text.split()) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(text.split())
    assert sim.usage_log == [expected_usage("gpt-4o")]


def test_stream_without_include_usage_sends_and_logs_no_usage(sim):
    chunks = list(client(sim).chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == default_reply(MSGS)
    assert sim.usage_log == []


def test_max_tokens_truncates(sim):
    r = client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS, max_tokens=2)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 2 == len(r.choices[0].message.content.split())


async def test_async_stream(sim):
    c = openai.AsyncOpenAI(base_url=sim.openai_url, api_key="sk-test-key", max_retries=0, timeout=10)
    stream = await c.chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    parts, usage = [], None
    async for ch in stream:
        if ch.choices:
            parts.append(ch.choices[0].delta.content or "")
        if ch.usage:
            usage = ch.usage
    await c.close()
    assert "".join(parts) == default_reply(MSGS)
    assert sim.usage_log == [UsageRecord("openai", "gpt-4o-mini", usage.prompt_tokens, usage.completion_tokens)]


def test_models_listing_and_runtime_changes(sim):
    c = client(sim)
    assert [m.id for m in c.models.list()] == ["gpt-4o-mini", "gpt-4o"]
    sim.models["openai"].append("o3-mini")
    sim.remove_model("openai", "gpt-4o")
    assert [m.id for m in c.models.list()] == ["gpt-4o-mini", "o3-mini"]
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert c.chat.completions.create(model="o3-mini", messages=MSGS).choices[0].message.content


def test_wrong_key_is_401_and_key_not_echoed(sim):
    with pytest.raises(openai.AuthenticationError) as ei:
        client(sim, key="sk-test-WRONG-secret-123").chat.completions.create(model="gpt-4o", messages=MSGS)
    assert ei.value.status_code == 401 and ei.value.code == "invalid_api_key"
    assert "sk-te****" in ei.value.message
    assert "WRONG" not in ei.value.response.text and "secret" not in ei.value.response.text
    sim.valid_keys.add("sk-test-WRONG-secret-123")
    assert client(sim, key="sk-test-WRONG-secret-123").models.list().data


def test_unknown_model(sim):
    with pytest.raises(openai.NotFoundError) as ei:
        client(sim).chat.completions.create(model="gpt-9", messages=MSGS)
    assert ei.value.code == "model_not_found"
    assert "The model `gpt-9` does not exist" in ei.value.message


@pytest.mark.parametrize(
    "fault, exc, status, code, type_",
    [
        (Fault("auth_invalid"), openai.AuthenticationError, 401, "invalid_api_key", "invalid_request_error"),
        (Fault("auth_invalid", status=403), openai.PermissionDeniedError, 403, "invalid_api_key", None),
        (Fault("quota_exhausted"), openai.RateLimitError, 429, "insufficient_quota", "insufficient_quota"),
        (Fault("rate_limited", retry_after=7), openai.RateLimitError, 429, "rate_limit_exceeded", "requests"),
        (Fault("overloaded"), openai.InternalServerError, 503, None, "server_error"),
        (Fault("overloaded", status=503), openai.InternalServerError, 503, None, None),
        (Fault("server_error"), openai.InternalServerError, 500, None, "server_error"),
        (Fault("server_error_html"), openai.InternalServerError, 502, None, None),
        (Fault("gateway_timeout"), openai.InternalServerError, 504, None, None),
        (Fault("model_not_found"), openai.NotFoundError, 404, "model_not_found", "invalid_request_error"),
        (Fault("context_too_long"), openai.BadRequestError, 400, "context_length_exceeded", "invalid_request_error"),
        (Fault("content_filtered"), openai.BadRequestError, 400, "content_policy_violation", None),
        (Fault("quota_exhausted", protocol="openrouter"), openai.APIStatusError, 402, None, None),
        (Fault("quota_exhausted", status=402), openai.APIStatusError, 402, None, None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_http_faults_map_to_sdk_exceptions(sim, fault, exc, status, code, type_, stream):
    sim.inject(fault)
    with pytest.raises(exc) as ei:
        r = client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=stream)
        list(r) if stream else None
    e = ei.value
    assert e.status_code == status
    if code is not None:
        assert e.code == code
    if type_ is not None:
        assert e.type == type_
    if fault.kind in ("server_error_html", "gateway_timeout"):
        assert e.response.headers["content-type"].startswith("text/html")
        assert "<html>" in e.response.text
    if fault.retry_after is not None:
        assert e.response.headers["retry-after"] == "7"
    if status == 402:
        assert "Insufficient credits" in e.response.text
    assert sim.usage_log == []
    # the fault was used up: the next request succeeds
    assert client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS).choices[0].message.content


def test_cut_stream_raises_without_done(sim):
    sim.inject(Fault("cut", after_chunks=2))
    stream = client(sim).chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    got = []
    with pytest.raises(openai.APIConnectionError):
        for ch in stream:
            got.append(ch.choices[0].delta.content or "")
    assert "".join(got) == "".join(split_chunks(default_reply(MSGS))[:2])
    assert sim.usage_log == []  # a cut stream never sent its usage


def test_cut_before_any_byte(sim):
    sim.inject(Fault("cut"))
    with pytest.raises(openai.APIConnectionError):
        client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS)


def test_cut_raw_has_no_done_marker(sim):
    sim.inject(Fault("cut", after_chunks=1))
    body = b""
    with httpx.Client() as hc, hc.stream(
        "POST", sim.openai_url + "/chat/completions", headers={"Authorization": "Bearer sk-test-key"},
        json={"model": "gpt-4o", "messages": MSGS, "stream": True},
    ) as r, pytest.raises(httpx.RemoteProtocolError):
        for b in r.iter_bytes():
            body += b
    assert body.count(b"data: ") == 2 and b"[DONE]" not in body


def test_midstream_error_raises_api_error(sim):
    sim.inject(Fault("midstream_error", after_chunks=1))
    got = []
    with pytest.raises(openai.APIError) as ei:
        for ch in client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True):
            got.append(ch.choices[0].delta.content)
    assert "server had an error" in ei.value.message
    assert len([g for g in got if g]) == 1


def test_malformed_sse_raises(sim):
    sim.inject(Fault("malformed_sse", after_chunks=1))
    with pytest.raises(ValueError):  # json.JSONDecodeError
        list(client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))


def test_malformed_non_stream_body(sim):
    sim.inject(Fault("malformed_sse"))
    r = httpx.post(sim.openai_url + "/chat/completions", headers={"Authorization": "Bearer sk-test-key"},
                   json={"model": "gpt-4o", "messages": MSGS})
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_error_in_200(sim):
    sim.inject(Fault("error_in_200"))
    r = httpx.post(sim.openai_url + "/chat/completions", headers={"Authorization": "Bearer sk-test-key"},
                   json={"model": "gpt-4o", "messages": MSGS})
    assert r.status_code == 200 and r.json()["error"]["type"] == "server_error"


def test_stall_until_released(sim):
    sim.inject(Fault("stall", after_chunks=2))
    started = threading.Event()
    result = {}

    def consume():
        parts = []
        for ch in client(sim).chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True):
            parts.append(ch.choices[0].delta.content or "")
            if len([p for p in parts if p]) == 2:
                started.set()
        result["text"] = "".join(parts)

    t = threading.Thread(target=consume)
    t.start()
    assert started.wait(5)
    t.join(0.2)
    assert t.is_alive()  # stalled
    sim.release_stalls()
    t.join(5)
    assert result["text"] == default_reply(MSGS)


def test_stall_hits_client_read_timeout(sim):
    sim.inject(Fault("stall", after_chunks=1))
    c = openai.OpenAI(base_url=sim.openai_url, api_key="sk-test-key", max_retries=0,
                      timeout=httpx.Timeout(5, read=0.3))
    with pytest.raises(openai.APITimeoutError):
        list(c.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))


def test_fault_filters_by_model_and_protocol(sim):
    sim.inject(Fault("server_error", protocol="anthropic"))
    sim.inject(Fault("server_error", model="gpt-4o", times=2))
    c = client(sim)
    assert c.chat.completions.create(model="gpt-4o-mini", messages=MSGS).choices
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="gpt-4o", messages=MSGS)
    assert c.chat.completions.create(model="gpt-4o", messages=MSGS).choices
    assert [f.protocol for f in sim.pending_faults] == ["anthropic"]


def test_models_endpoint_faults(sim):
    sim.inject(Fault("server_error", endpoint="models"))
    c = client(sim)
    assert c.chat.completions.create(model="gpt-4o", messages=MSGS).choices  # chat unaffected
    with pytest.raises(openai.InternalServerError):
        c.models.list()


def test_openrouter_and_lmstudio_urls(sim):
    r = client(sim, url=sim.openrouter_url).chat.completions.create(model="openai/gpt-4o-mini", messages=MSGS)
    assert r.choices[0].message.content == default_reply(MSGS)
    assert sim.usage_log[-1].protocol == "openrouter"
    with pytest.raises(openai.AuthenticationError):
        client(sim, key="nope", url=sim.openrouter_url).models.list()
    lm = client(sim, key="lm-studio", url=sim.lmstudio_url)  # no key check
    assert [m.id for m in lm.models.list()] == sim.models["lmstudio"]
    sim.inject(Fault("quota_exhausted", protocol="openai"))  # OpenAI-wire faults hit OpenRouter too
    with pytest.raises(openai.APIStatusError) as ei:
        client(sim, url=sim.openrouter_url).chat.completions.create(model="openai/gpt-4o-mini", messages=MSGS)
    assert ei.value.status_code == 402
