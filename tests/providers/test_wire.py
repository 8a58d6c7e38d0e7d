"""Real HTTP against the provider simulator (tests/simulator): every row of the error table
for each wire protocol, before and after the first token, exact usage, base URL variants,
closed ports, stalls with tiny timeouts, cut connections, and keys never leaking."""

from __future__ import annotations

import json
import socket
import traceback

import pytest

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import StreamEnd, TextDelta, Usage
from desktop.providers import Timeouts, make_provider
from tests.simulator import Fault, count_input_tokens, split_chunks

from .conftest import KEY, MESSAGES, MODELS, assert_well_formed, collect

K = ErrorKind
PROTOCOLS = ["openai", "openrouter", "lmstudio", "anthropic", "ollama"]
FAST = Timeouts(connect=2, read=3)
TINY = Timeouts(connect=2, read=0.5)


def url_for(sim, protocol: str) -> str:
    return {"openai": sim.openai_url, "openrouter": sim.openrouter_url, "lmstudio": sim.lmstudio_url,
            "anthropic": sim.anthropic_url, "ollama": sim.ollama_url}[protocol]


def provider_for(sim, client, protocol, timeouts=FAST, key=KEY, base_url=None):
    needs_key = protocol in ("openai", "openrouter", "anthropic")
    return make_provider(protocol, protocol, base_url or url_for(sim, protocol),
                         key if needs_key else None, client, timeouts)


def assert_no_secret(err: RouteDeskError, secret: str = KEY) -> None:
    texts = [err.message, str(err.fix), err.detail or "", repr(err), str(err),
             json.dumps(err.info().to_dict()), "".join(traceback.format_exception(err))]
    for text in texts:
        assert secret not in text


def expected_text(sim, protocol) -> str:
    wire = [{"role": m.role, "content": m.content} for m in MESSAGES]
    return sim._reply(wire) if hasattr(sim, "_reply") else None


# --- the happy path and usage -----------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stream_and_exact_usage(sim, client, protocol):
    p = provider_for(sim, client, protocol)
    out = await collect(p, MODELS[protocol])
    assert out.error is None, out.error and out.error.message
    assert_well_formed(out.events)
    assert out.text == expected_text(sim, protocol)
    assert len([e for e in out.events if isinstance(e, TextDelta)]) == len(split_chunks(out.text))
    assert out.end.finish_reason in ("stop", "end_turn")
    [rec] = sim.usage_log
    assert out.usage == Usage(rec.input_tokens, rec.output_tokens)
    assert rec.input_tokens == count_input_tokens([{"content": m.content} for m in MESSAGES])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_max_tokens_truncates_and_is_billed_exactly(sim, client, protocol):
    p = provider_for(sim, client, protocol)
    out = await collect(p, MODELS[protocol], max_tokens=3)
    assert out.error is None
    assert len(out.text.split()) == 3
    assert out.end.finish_reason in ("length", "max_tokens")
    [rec] = sim.usage_log
    assert out.usage == Usage(rec.input_tokens, 3)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_several_requests_share_one_client(sim, client, protocol):
    p = provider_for(sim, client, protocol)
    for _ in range(3):
        out = await collect(p, MODELS[protocol])
        assert out.error is None
    assert [(r.input_tokens, r.output_tokens) for r in sim.usage_log] == [
        (out.usage.input_tokens, out.usage.output_tokens)] * 3


async def test_request_details_reach_the_server(sim, client):
    await collect(provider_for(sim, client, "openrouter"), MODELS["openrouter"], max_tokens=5)
    await collect(provider_for(sim, client, "anthropic"), MODELS["anthropic"])
    or_req = next(r for r in sim.requests if r.protocol == "openrouter")
    assert or_req.json_body["max_tokens"] == 5
    assert or_req.headers["http-referer"] and or_req.headers["x-title"] == "RouteDesk"
    assert or_req.json_body["stream_options"] == {"include_usage": True}
    an_req = next(r for r in sim.requests if r.protocol == "anthropic")
    assert an_req.json_body["system"] == "You are brief."
    assert [m["role"] for m in an_req.json_body["messages"]] == ["user"]
    assert an_req.headers["anthropic-version"] == "2023-06-01"


# --- base URL variants ------------------------------------------------------------------

@pytest.mark.parametrize(
    "protocol, suffix",
    [("openai", ""), ("openai", "/"), ("openai", "/v1"), ("openai", "/v1/"),
     ("openai", "/v1/chat/completions"),
     ("openrouter", "/openrouter"), ("openrouter", "/openrouter/v1/"),
     ("lmstudio", "/lmstudio"), ("lmstudio", "/lmstudio/v1/"),
     ("anthropic", ""), ("anthropic", "/"), ("anthropic", "/v1"), ("anthropic", "/v1/"),
     ("ollama", ""), ("ollama", "/"), ("ollama", "/api"), ("ollama", "/api/"), ("ollama", "/v1")],
)
async def test_base_url_variants(sim, client, protocol, suffix):
    p = provider_for(sim, client, protocol, base_url=sim.base_url + suffix)
    out = await collect(p, MODELS[protocol])
    assert out.error is None, out.error and out.error.message
    assert isinstance(out.end, StreamEnd)
    assert await p.list_models()


async def test_wrong_path_is_misconfigured_with_a_v1_hint(sim, client):
    p = make_provider("openai-compatible", "lab", sim.base_url + "/wrong/v1", None, client, FAST)
    out = await collect(p, "m")
    assert out.error.kind is K.MISCONFIGURED and "/v1" in str(out.error.fix)


# --- every row of the error table, per protocol -----------------------------------------

HTTP_ROWS = [
    ("auth_invalid", K.AUTH_INVALID),
    ("quota_exhausted", K.QUOTA_EXHAUSTED),
    ("rate_limited", K.RATE_LIMITED),
    ("overloaded", K.OVERLOADED),
    ("server_error", K.SERVER_ERROR),
    ("server_error_html", K.SERVER_ERROR),
    ("gateway_timeout", K.SERVER_ERROR),
    ("model_not_found", K.MODEL_NOT_FOUND),
    ("context_too_long", K.CONTEXT_TOO_LONG),
    ("content_filtered", K.CONTENT_FILTERED),
    ("error_in_200", K.SERVER_ERROR),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault, expected", HTTP_ROWS, ids=[r[0] for r in HTTP_ROWS])
async def test_http_faults(sim, client, protocol, fault, expected):
    sim.inject(Fault(fault, protocol=protocol, retry_after=2 if fault == "rate_limited" else None))
    p = provider_for(sim, client, protocol)
    out = await collect(p, MODELS[protocol])
    assert out.events == []
    err = out.error
    assert err is not None and err.kind is expected, (err and err.kind, err and err.message)
    assert err.provider == protocol and err.model == MODELS[protocol]
    assert MODELS[protocol] in err.message or expected is K.QUOTA_EXHAUSTED or expected is K.AUTH_INVALID
    if fault == "rate_limited":
        assert err.retry_after == pytest.approx(2.0)
    assert_no_secret(err)
    # the fault was used once: the next request succeeds
    again = await collect(p, MODELS[protocol])
    assert again.error is None


STREAM_ROWS = [
    ("cut", K.INTERRUPTED),
    ("malformed_sse", K.BAD_RESPONSE),
    ("stall", K.TIMEOUT),
]
MIDSTREAM = {"openai": K.SERVER_ERROR, "openrouter": K.SERVER_ERROR, "lmstudio": K.SERVER_ERROR,
             "anthropic": K.OVERLOADED, "ollama": K.SERVER_ERROR}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("after", [0, 2], ids=["before-first-token", "after-first-token"])
@pytest.mark.parametrize("fault", ["cut", "malformed_sse", "stall", "midstream_error"])
async def test_stream_faults(sim, client, protocol, after, fault):
    expected = dict(STREAM_ROWS).get(fault) or (MIDSTREAM[protocol] if not after else K.INTERRUPTED)
    sim.inject(Fault(fault, protocol=protocol, after_chunks=after))
    p = provider_for(sim, client, protocol, timeouts=TINY)
    out = await collect(p, MODELS[protocol])
    err = out.error
    assert err is not None and err.kind is expected, (err and err.kind, err and err.message)
    assert not any(isinstance(e, StreamEnd) for e in out.events)
    full = expected_text(sim, protocol)
    assert out.text == "".join(split_chunks(full)[:after])  # the partial text is exactly what was sent
    assert_no_secret(err)
    sim.release_stalls()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cut_before_any_response_is_unreachable(sim, client, protocol):
    sim.inject(Fault("cut", protocol=protocol))
    out = await collect(provider_for(sim, client, protocol), MODELS[protocol])
    assert out.error.kind is K.UNREACHABLE and out.events == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stall_before_headers_is_timeout(sim, client, protocol):
    sim.inject(Fault("stall", protocol=protocol))
    out = await collect(provider_for(sim, client, protocol, timeouts=TINY), MODELS[protocol])
    assert out.error.kind is K.TIMEOUT and "0.5s" in out.error.message
    sim.release_stalls()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_slow_first_token(sim, client, protocol):
    # slower than first_token: timeout; within it: fine, even though read is tighter.
    sim.inject(Fault("slow_first_token", protocol=protocol, delay=5))
    t = Timeouts(connect=2, read=0.2, first_token=0.3)
    out = await collect(provider_for(sim, client, protocol, timeouts=t), MODELS[protocol])
    assert out.error.kind is K.TIMEOUT and out.text == ""
    sim.release_stalls()
    sim.inject(Fault("slow_first_token", protocol=protocol, delay=0.8))
    t = Timeouts(connect=2, read=0.5, first_token=3)
    out = await collect(provider_for(sim, client, protocol, timeouts=t), MODELS[protocol])
    assert out.error is None and isinstance(out.end, StreamEnd)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_closed_port_is_unreachable(client, protocol):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    base = f"http://127.0.0.1:{port}"
    p = make_provider(protocol, protocol, base, KEY if protocol in ("openai", "openrouter", "anthropic") else None,
                      client, FAST)
    out = await collect(p, "m")
    assert out.error.kind is K.UNREACHABLE and out.error.code == "connection_refused"
    assert_no_secret(out.error)
    assert f"127.0.0.1:{port}" in out.error.message
    if protocol == "ollama":
        assert out.error.message == f"Ollama isn't running on 127.0.0.1:{port}."
    for call in (p.list_models, p.check):
        with pytest.raises(RouteDeskError) as info:
            await call()
        assert info.value.kind is K.UNREACHABLE


@pytest.mark.parametrize("protocol", ["openai", "openrouter", "anthropic"])
async def test_wrong_key_never_leaks(sim, client, protocol):
    wrong = "sk-wrong-" + "Zq9" * 12
    p = provider_for(sim, client, protocol, key=wrong)
    out = await collect(p, MODELS[protocol])
    assert out.error.kind is K.AUTH_INVALID
    assert_no_secret(out.error, wrong)
    assert wrong not in repr(p)
    with pytest.raises(RouteDeskError) as info:
        await p.list_models()
    assert info.value.kind is K.AUTH_INVALID
    assert_no_secret(info.value, wrong)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_unknown_model(sim, client, protocol):
    out = await collect(provider_for(sim, client, protocol), "no-such-model")
    assert out.error.kind is K.MODEL_NOT_FOUND and "no-such-model" in out.error.message


# --- model lists, checks, Ollama extras -------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_list_models_and_check(sim, client, protocol):
    p = provider_for(sim, client, protocol)
    models = await p.list_models()
    assert [m.ref.model for m in models] == sim.models[protocol]
    assert all(m.ref.provider == protocol for m in models)
    assert all(m.local == (protocol in ("ollama", "lmstudio")) for m in models)
    version = await p.check()
    assert version == (sim.ollama_version if protocol == "ollama" else None)
    if protocol == "openrouter":
        assert {m.context_length for m in models} == {128000}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault, expected", [("server_error", K.SERVER_ERROR), ("rate_limited", K.RATE_LIMITED),
                                             ("auth_invalid", K.AUTH_INVALID), ("stall", K.TIMEOUT),
                                             ("cut", K.UNREACHABLE)])
async def test_list_models_faults(sim, client, protocol, fault, expected):
    sim.inject(Fault(fault, protocol=protocol, endpoint="models", delay=5 if fault == "stall" else None))
    p = provider_for(sim, client, protocol, timeouts=TINY)
    with pytest.raises(RouteDeskError) as info:
        await p.list_models()
    assert info.value.kind is expected
    sim.release_stalls()


async def test_ollama_details(sim, client):
    p = provider_for(sim, client, "ollama")
    models = {m.ref.model: m for m in await p.list_models()}
    m = models["llama3.2:latest"]
    assert m.size_bytes and m.size_bytes > 10**9
    assert m.parameter_size == "3.2B" and m.quantization == "Q4_K_M"
    info = await p.show("llama3.2:latest")
    assert info.context_length == 131072
    assert await p.context_length("qwen2.5-coder:7b") == 32768
    with pytest.raises(RouteDeskError) as err:
        await p.show("nope:1b")
    assert err.value.kind is K.MODEL_NOT_FOUND


async def test_ollama_pull_and_delete(sim, client):
    p = provider_for(sim, client, "ollama")
    progress = [x async for x in p.pull("phi3:mini")]
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    fractions = [x.fraction for x in progress if x.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "phi3:mini" in [m.ref.model for m in await p.list_models()]
    await p.delete("phi3:mini")
    assert "phi3:mini" not in [m.ref.model for m in await p.list_models()]
    with pytest.raises(RouteDeskError) as info:
        await p.delete("phi3:mini")
    assert info.value.kind is K.MODEL_NOT_FOUND


async def test_ollama_pull_unknown_model(sim, client):
    if not hasattr(sim, "ollama_registry"):
        pytest.skip("simulator has no registry")
    sim.ollama_registry = ["llama3.2"]
    p = provider_for(sim, client, "ollama")
    with pytest.raises(RouteDeskError) as info:
        [x async for x in p.pull("nonexistent:1b")]
    assert info.value.kind in (K.MODEL_NOT_FOUND, K.BAD_RESPONSE)


async def test_ollama_pull_faults(sim, client):
    sim.inject(Fault("server_error", protocol="ollama", endpoint="pull"))
    p = provider_for(sim, client, "ollama")
    with pytest.raises(RouteDeskError) as info:
        [x async for x in p.pull("phi3:mini")]
    assert info.value.kind is K.SERVER_ERROR


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "ollama"])
async def test_cancelling_the_consumer_is_not_an_error(sim, client, protocol):
    """Esc in the UI cancels the task reading the stream: CancelledError must come out as
    such (the engine stores the partial answer as `stopped`), never as a RouteDeskError."""
    import asyncio

    sim.inject(Fault("stall", protocol=protocol, after_chunks=2))
    p = provider_for(sim, client, protocol, timeouts=Timeouts(connect=2, read=30))
    got: list = []
    first_two = asyncio.Event()

    async def consume():
        async for event in p.stream_chat(MODELS[protocol], MESSAGES):
            got.append(event)
            if len(got) == 2:
                first_two.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_two.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [type(e) for e in got] == [TextDelta, TextDelta]
    sim.release_stalls()
    # the shared client is still usable
    out = await collect(p, MODELS[protocol])
    assert out.error is None
