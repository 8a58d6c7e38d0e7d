"""Lifecycle, determinism, concurrency and the command line of the simulator itself."""

from __future__ import annotations

import concurrent.futures as cf
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.simulator import (
    FAULT_KINDS,
    Fault,
    Simulator,
    UsageRecord,
    count_input_tokens,
    count_output_tokens,
    split_chunks,
)

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer sk-test-key"}
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}]}


def sim_threads():
    return [t for t in threading.enumerate() if t.name.startswith("simulator")]


def test_token_counting_documented_rule():
    msgs = [{"role": "system", "content": "be  brief"},
            {"role": "user", "content": [{"type": "text", "text": "a b c"}]}]
    assert count_input_tokens(msgs) == (2 + 3) + (3 + 3)
    assert count_input_tokens([{"role": "user", "content": ""}]) == 3
    assert count_output_tokens(" hello   world \n") == 2


@given(st.text(alphabet=st.sampled_from("ab \n\t."), max_size=40))
def test_split_chunks_roundtrip(text):
    chunks = split_chunks(text)
    assert "".join(chunks) == text
    assert len(chunks) == (len(text.split()) or (1 if text else 0))


def test_stop_start_same_port_and_no_leaked_threads():
    before = set(sim_threads())
    sim = Simulator().start()
    port = sim.port
    with httpx.Client() as hc:  # keep-alive connection stays open across stop()
        assert hc.get(sim.openai_url + "/models", headers=AUTH).status_code == 200
        sim.stop()
        assert not sim.running
        with pytest.raises(httpx.TransportError):
            httpx.get(sim.openai_url + "/models", headers=AUTH, timeout=2)
        sim.start()
        assert sim.port == port
        assert hc.get(sim.openai_url + "/models", headers=AUTH).status_code == 200
    sim.stop()
    sim.stop()  # idempotent
    assert set(sim_threads()) <= before


def test_stop_releases_stalled_stream_quickly():
    sim = Simulator().start()
    sim.inject(Fault("stall", after_chunks=1))
    got = threading.Event()
    errors = []

    def consume():
        try:
            with httpx.stream("POST", sim.openai_url + "/chat/completions", headers=AUTH,
                              json={**BODY, "stream": True}, timeout=10) as r:
                for _ in r.iter_lines():
                    got.set()
        except httpx.HTTPError as exc:
            errors.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    assert got.wait(5)
    sim.stop()
    t.join(5)
    assert not t.is_alive() and errors  # the stream broke; nothing hangs
    assert not sim_threads()


def test_stalled_thread_ends_when_client_leaves(sim):
    sim.inject(Fault("stall"))  # before any byte
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json=BODY, timeout=httpx.Timeout(2, read=0.2))
    # the server notices the closed connection (checked every 0.25 s while stalled)
    assert sim.wait_for(lambda s: s.stalled == 0, timeout=3)


def test_stall_with_delay_then_continues(sim):
    sim.inject(Fault("stall", after_chunks=1, delay=0.1))
    r = httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json={**BODY, "stream": True}, timeout=5)
    assert r.text.endswith("data: [DONE]\n\n")


def test_concurrent_requests(sim):
    hc = httpx.Client(limits=httpx.Limits(max_connections=16))

    def one(i):
        r = hc.post(sim.openai_url + "/chat/completions", headers=AUTH,
                       json={"model": "gpt-4o", "messages": [{"role": "user", "content": f"q {i}"}], "stream": True,
                             "stream_options": {"include_usage": True}}, timeout=10)
        assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
        return i

    with hc, cf.ThreadPoolExecutor(16) as ex:
        assert sorted(ex.map(one, range(64))) == list(range(64))
    assert len(sim.usage_log) == 64 and len(sim.requests) == 64


def run_soak(rate, seed, n=60):
    sim = Simulator().start()
    sim.random_faults(rate=rate, seed=seed)
    outcomes = []
    with httpx.Client(timeout=httpx.Timeout(5, read=2)) as hc:
        for i in range(n):
            try:
                r = hc.post(sim.openai_url + "/chat/completions", headers=AUTH,
                            json={**BODY, "stream": True, "stream_options": {"include_usage": True}} if i % 2 else BODY)
                outcomes.append((r.status_code, r.text.endswith("[DONE]\n\n")))
            except httpx.HTTPError as exc:
                outcomes.append((type(exc).__name__, False))
    faults = [(f.fault.kind, f.fault.after_chunks) for f in sim.fault_log]
    usage = list(sim.usage_log)
    sim.stop()
    return outcomes, faults, usage


def test_random_faults_are_deterministic():
    a = run_soak(0.3, 7)
    b = run_soak(0.3, 7)
    c = run_soak(0.3, 8)
    assert a == b
    assert a[1] != c[1]
    assert 5 < len(a[1]) < 40  # roughly rate * n
    assert {k for k, _ in a[1]} <= set(FAULT_KINDS)


def test_inject_validation_and_string_form(sim):
    with pytest.raises(ValueError):
        Fault("nonsense")
    with pytest.raises(ValueError):
        Fault("cut", endpoint="somewhere")
    sim.inject("server_error", times=None)  # unlimited
    for _ in range(3):
        assert httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json=BODY).status_code == 500
    sim.clear_faults()
    assert httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json=BODY).status_code == 200


def test_custom_reply_and_usage(sim):
    sim.reply = lambda messages: "x " * len(messages) + "done"
    r = httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json=BODY).json()
    assert r["choices"][0]["message"]["content"] == "x done"
    assert sim.usage_log == [UsageRecord("openai", "gpt-4o-mini", 6, 2)]


def test_chunk_delay_respected(sim):
    import time

    sim.chunk_delay = 0.02
    t0 = time.monotonic()
    r = httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json={**BODY, "stream": True})
    assert r.status_code == 200
    # Timed waits may wake a hair early; 90% of the configured pacing still proves it is applied.
    assert time.monotonic() - t0 >= 0.9 * 0.02 * (len(r.text.split("data: ")) - 3)


def test_unknown_paths_and_bad_json(sim):
    assert httpx.get(sim.base_url + "/v1/nothing", headers=AUTH).status_code == 404
    assert httpx.get(sim.base_url + "/api/nothing").status_code == 404
    r = httpx.post(sim.openai_url + "/chat/completions", headers={**AUTH, "content-type": "application/json"},
                   content=b"{bad")
    assert r.status_code == 400


def test_cli_standalone():
    proc = subprocess.Popen([sys.executable, "-m", "tests.simulator", "--port", "0", "--faults-rate", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        r = httpx.post(url + "/v1/chat/completions", headers=AUTH, json=BODY, timeout=5)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("kind", ["cut", "malformed_sse", "midstream_error", "error_in_200", "server_error"])
def test_faults_on_listing_endpoints(sim, kind):
    sim.inject(Fault(kind, endpoint="models", after_chunks=1))
    try:
        r = httpx.get(sim.ollama_url + "/api/tags", timeout=5)
    except httpx.TransportError:
        assert kind == "cut"
    else:
        assert kind != "cut"
        if kind == "server_error":
            assert r.status_code == 500
        else:
            assert r.status_code == 200
            with pytest.raises((ValueError, KeyError)):  # unreadable JSON, or an error object
                r.json()["models"]
    assert httpx.get(sim.ollama_url + "/api/tags", timeout=5).json()["models"]


def test_stream_options_without_stream_rejected_like_openai(sim):
    r = httpx.post(sim.openai_url + "/chat/completions", headers=AUTH,
                   json={**BODY, "stream_options": {"include_usage": True}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "stream_options"


def test_wait_stalled_then_release(sim):
    sim.inject(Fault("stall", after_chunks=0))
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", httpx.post(
        sim.openai_url + "/chat/completions", headers=AUTH, json={**BODY, "stream": True}, timeout=10)))
    t.start()
    assert sim.wait_stalled(1) and sim.stalled == 1 and sim.wait_requests(1)
    sim.release_stalls()
    t.join(5)
    assert out["r"].text.endswith("data: [DONE]\n\n") and sim.stalled == 0


def test_reply_callable_error_is_a_500_not_a_hang(sim, capsys):
    def bad(messages):
        raise RuntimeError("boom")

    sim.reply = bad
    r = httpx.post(sim.openai_url + "/chat/completions", headers=AUTH, json=BODY, timeout=5)
    assert r.status_code == 500 and "boom" in r.text


def test_client_disconnect_mid_stream_frees_the_thread(sim):
    sim.chunk_delay = 0.01
    with httpx.Client(timeout=5) as hc, hc.stream("POST", sim.openai_url + "/chat/completions", headers=AUTH,
                   json={**BODY, "stream": True}) as r:
        next(r.iter_lines())
    # the connection is closed; the handler thread ends on its next write
    assert sim.wait_for(lambda s: s.active_connections == 0, timeout=3)
    assert sim.usage_log == []


async def test_httpx_sse_async_openai_and_anthropic(sim):
    from httpx_sse import aconnect_sse

    async with httpx.AsyncClient(timeout=5) as ac:
        async with aconnect_sse(ac, "POST", sim.openai_url + "/chat/completions", headers=AUTH,
                                json={**BODY, "stream": True, "stream_options": {"include_usage": True}}) as es:
            datas = [e.data async for e in es.aiter_sse()]
        assert datas[-1] == "[DONE]"
        assert "usage" in datas[-2]
        async with aconnect_sse(ac, "POST", sim.anthropic_url + "/v1/messages",
                                headers={"x-api-key": "sk-test-key", "anthropic-version": "2023-06-01"},
                                json={"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": True,
                                      "messages": BODY["messages"]}) as es:
            events = [e.event async for e in es.aiter_sse()]
        assert events[0] == "message_start" and events[-1] == "message_stop" and "ping" in events
    assert [u.protocol for u in sim.usage_log] == ["openai", "anthropic"]
