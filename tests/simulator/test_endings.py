"""The simulator's stream endings, driven by the official openai and anthropic SDKs: what
each SDK makes of a reply cut at its limit, a filtered or refused one, OpenRouter's
mid-stream error chunk and keep-alive comments, a proxy's fallback model and LiteLLM's
cost headers. If the SDKs read them as the providers' real streams, so may RouteDesk."""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from tests.simulator import Fault, count_input_tokens, default_reply, split_chunks
from tests.simulator.faults import openrouter_cost

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MSGS = [{"role": "user", "content": "Explain TCP slow start briefly"}]


def oai(sim, url=None):
    return openai.OpenAI(base_url=url or sim.openai_url, api_key="sk-test-key", max_retries=0, timeout=10)


def claude(sim):
    return anthropic.Anthropic(base_url=sim.anthropic_url, api_key="sk-test-key", max_retries=0, timeout=10)


def words(n: int) -> str:
    return "".join(split_chunks(default_reply(MSGS))[:n]).rstrip()


@pytest.mark.parametrize(("kind", "finish"), [("length", "length"), ("content_filter", "content_filter")])
def test_openai_sdk_reads_the_end_reason_and_the_text_before_it(sim, kind, finish):
    sim.inject(Fault(kind, after_chunks=3))
    chunks = list(oai(sim).chat.completions.create(model="gpt-4o", messages=MSGS, stream=True,
                                                   stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == words(3)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [finish]
    assert chunks[-1].usage.completion_tokens == 3  # what was written is what is paid for
    sim.inject(Fault(kind, after_chunks=2))
    whole = oai(sim).chat.completions.create(model="gpt-4o", messages=MSGS)
    assert whole.choices[0].finish_reason == finish and whole.choices[0].message.content == words(2)


@pytest.mark.parametrize(("kind", "stop"), [("length", "max_tokens"), ("content_filter", "refusal")])
def test_anthropic_sdk_reads_the_stop_reason(sim, kind, stop):
    sim.inject(Fault(kind, after_chunks=2))
    with claude(sim).messages.stream(model="claude-sonnet-4-5", max_tokens=256, messages=MSGS) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == words(2) and final.stop_reason == stop and final.usage.output_tokens == 2


def test_openrouter_error_chunk_is_raised_by_the_openai_sdk_after_the_text(sim):
    sim.inject(Fault("midstream_error", protocol="openrouter", after_chunks=2))
    seen = []
    with pytest.raises(openai.APIError, match="Provider disconnected unexpectedly"):
        for c in oai(sim, sim.openrouter_url).chat.completions.create(
                model="openai/gpt-4o-mini", messages=MSGS, stream=True):
            seen.append(c.choices[0].delta.content or "" if c.choices else "")
    assert "".join(seen) == "".join(split_chunks(default_reply(MSGS))[:2])


def test_openrouter_raw_stream_has_the_documented_error_chunk_and_comments(sim):
    sim.inject(Fault("midstream_error", protocol="openrouter", after_chunks=1))
    with httpx.stream("POST", sim.openrouter_url + "/chat/completions", timeout=10,
                      headers={"Authorization": "Bearer sk-test-key"},
                      json={"model": "openai/gpt-4o-mini", "messages": MSGS, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[0] == ": OPENROUTER PROCESSING"
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last["error"] == {"code": "server_error", "message": "Provider disconnected unexpectedly"}
    assert last["choices"][0]["finish_reason"] == "error"


def test_openai_sdk_ignores_keepalive_comments_and_reports_openrouter_cost(sim):
    sim.inject(Fault("keepalive", after_chunks=2, delay=0.2))
    chunks = list(oai(sim, sim.openrouter_url).chat.completions.create(
        model="openai/gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == default_reply(MSGS)
    usage = chunks[-1].usage
    assert Decimal(str(usage.model_extra["cost"])) == openrouter_cost(count_input_tokens(MSGS),
                                                                       usage.completion_tokens)


def test_fallback_model_and_litellm_headers_reach_the_sdks(sim):
    sim.served_models["gpt-4o"] = "gpt-4o-mini"
    sim.served_models["claude-sonnet-4-5"] = "claude-3-5-haiku-latest"
    sim.chat_headers.update({"x-litellm-response-cost": "0.000042", "x-litellm-attempted-fallbacks": "1"})
    raw = oai(sim).chat.completions.with_raw_response.create(model="gpt-4o", messages=MSGS)
    assert raw.headers["x-litellm-response-cost"] == "0.000042"
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
    assert raw.parse().model == "gpt-4o-mini"
    chunks = list(oai(sim).chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))
    assert {c.model for c in chunks} == {"gpt-4o-mini"}
    m = claude(sim).messages.create(model="claude-sonnet-4-5", max_tokens=256, messages=MSGS)
    assert m.model == "claude-3-5-haiku-latest"
    assert sim.usage_log[-1].model == "claude-sonnet-4-5"  # logged as asked, like a proxy's own log
