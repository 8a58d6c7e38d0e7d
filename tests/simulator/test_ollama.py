"""The simulator driven by the official ollama client (sync and async)."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.simulator import Fault, UsageRecord, count_input_tokens, default_reply, split_chunks

MSGS = [{"role": "user", "content": "Name three prime numbers"}]


def client(sim):
    return ollama.Client(host=sim.ollama_url, timeout=10)


def test_chat_stream(sim):
    parts = list(client(sim).chat("llama3.2", messages=MSGS, stream=True))
    assert "".join(p.message.content for p in parts) == default_reply(MSGS)
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    final = parts[-1]
    assert final.done_reason == "stop"
    assert final.prompt_eval_count == count_input_tokens(MSGS) == 4 + 3
    assert final.eval_count == len(default_reply(MSGS).split())
    assert final.total_duration and final.eval_duration
    assert sim.usage_log == [UsageRecord("ollama", "llama3.2", final.prompt_eval_count, final.eval_count)]


def test_chat_non_stream_and_num_predict(sim):
    r = client(sim).chat("qwen2.5-coder:7b", messages=MSGS, options={"num_predict": 3})
    assert r.done and r.done_reason == "length" and r.eval_count == 3
    assert r.message.content == "".join(split_chunks(default_reply(MSGS))[:3]).rstrip()
    assert sim.requests[-1].json_body["stream"] is False


async def test_async_chat_stream(sim):
    c = ollama.AsyncClient(host=sim.ollama_url, timeout=10)
    text = ""
    async for p in await c.chat("llama3.2:latest", messages=MSGS, stream=True):
        text += p.message.content
    assert text == default_reply(MSGS)
    assert sim.usage_log[0].model == "llama3.2:latest"


def test_unknown_model_try_pulling(sim):
    with pytest.raises(ollama.ResponseError) as ei:
        client(sim).chat("mistral", messages=MSGS)
    assert ei.value.status_code == 404
    assert ei.value.error == 'model "mistral" not found, try pulling it first'


def test_tags_show_version(sim):
    c = client(sim)
    models = c.list().models
    assert [m.model for m in models] == ["llama3.2:latest", "qwen2.5-coder:7b"]
    m = models[1]
    assert m.size > 0 and m.digest and m.details.family == "qwen2" and m.details.parameter_size == "7B"
    assert m.details.format == "gguf" and m.details.quantization_level
    show = c.show("llama3.2")
    assert show.modelinfo["llama.context_length"] == 131072
    assert show.modelinfo["general.architecture"] == "llama" and show.details.family == "llama"
    assert httpx.get(sim.ollama_url + "/api/version").json()["version"]
    assert httpx.get(sim.ollama_url + "/").text == "Ollama is running"
    with pytest.raises(ollama.ResponseError) as ei:
        c.show("nope")
    assert ei.value.status_code == 404


def test_pull_then_chat_then_delete(sim):
    c = client(sim)
    progress = list(c.pull("gemma3:1b", stream=True))
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    steps = [p for p in progress if p.total]
    assert len(steps) >= 3 and steps[-1].completed == steps[-1].total and steps[0].digest.startswith("sha256:")
    assert [x.completed for x in steps] == sorted(x.completed for x in steps)
    assert "gemma3:1b" in [m.model for m in c.list().models]
    assert c.chat("gemma3:1b", messages=MSGS).message.content == default_reply(MSGS)
    assert c.delete("gemma3:1b").status == "success"
    assert "gemma3:1b" not in [m.model for m in c.list().models]
    with pytest.raises(ollama.ResponseError):
        c.delete("gemma3:1b")


def test_pull_non_stream_and_registry_miss(sim):
    c = client(sim)
    assert c.pull("phi3").status == "success"
    assert "phi3:latest" in sim.models["ollama"]
    sim.ollama_registry = {"llama3.1:8b"}
    with pytest.raises(ollama.ResponseError) as ei:
        list(c.pull("no-such-model", stream=True))
    assert "file does not exist" in str(ei.value)


def test_pull_can_be_cancelled(sim):
    sim.chunk_delay = 0.05
    sim.pull_steps = 50
    with httpx.Client(timeout=5) as hc, hc.stream("POST", sim.ollama_url + "/api/pull", json={"model": "big:70b"}) as r:
        first = next(r.iter_lines())
    assert "pulling manifest" in first
    assert "big:70b" not in sim.models["ollama"]


def test_runtime_model_changes(sim):
    sim.add_model("ollama", "mistral")
    sim.remove_model("ollama", "llama3.2")
    assert [m.model for m in client(sim).list().models] == ["qwen2.5-coder:7b", "mistral:latest"]


@pytest.mark.parametrize(
    "fault, status, text",
    [
        (Fault("server_error"), 500, "llama runner process has terminated"),
        (Fault("overloaded"), 503, "server busy"),
        (Fault("model_not_found"), 404, "try pulling it first"),
        (Fault("context_too_long"), 400, "context length"),
        (Fault("server_error_html"), 502, "502 Bad Gateway"),
        (Fault("rate_limited", retry_after=1), 429, "too many requests"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_http_faults(sim, fault, status, text, stream):
    sim.inject(fault)
    with pytest.raises(ollama.ResponseError) as ei:
        r = client(sim).chat("llama3.2", messages=MSGS, stream=stream)
        list(r) if stream else None
    assert ei.value.status_code == status and text in str(ei.value)
    assert sim.usage_log == []


def test_midstream_error_line(sim):
    sim.inject(Fault("midstream_error", after_chunks=2))
    got = []
    with pytest.raises(ollama.ResponseError) as ei:
        for p in client(sim).chat("llama3.2", messages=MSGS, stream=True):
            got.append(p.message.content)
    assert "unexpected EOF" in ei.value.error and len(got) == 2


def test_error_in_200_stream(sim):
    sim.inject(Fault("error_in_200"))
    with pytest.raises(ollama.ResponseError):
        list(client(sim).chat("llama3.2", messages=MSGS, stream=True))


def test_cut_stream(sim):
    sim.inject(Fault("cut", after_chunks=1))
    got = []
    with pytest.raises(httpx.HTTPError):
        for p in client(sim).chat("llama3.2", messages=MSGS, stream=True):
            got.append(p.message.content)
    assert len(got) == 1 and sim.usage_log == []


def test_malformed_line(sim):
    sim.inject(Fault("malformed_sse", after_chunks=1))
    with pytest.raises(ValueError):  # json.JSONDecodeError
        list(client(sim).chat("llama3.2", messages=MSGS, stream=True))
