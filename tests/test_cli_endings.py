"""`routedesk ask` (plain and --json) on every way an answer can end, as a user runs it: a
real process, the real keyring, real HTTP against the simulator. What it prints is what
DESIGN.md's `ask --json` contract says: status, notice, served_model, price_source."""

from __future__ import annotations

import json

from tests.simulator import Fault, default_reply, split_chunks
from tests.simulator.fixtures import sim  # noqa: F401
from tests.test_cli import KEY, env, name, rd  # noqa: F401

PROMPT = "Explain photosynthesis briefly"


def words(n: int) -> str:
    return "".join(split_chunks(default_reply([{"role": "user", "content": PROMPT}]))[:n])


def add(env, name, kind, url):  # noqa: F811
    r = rd(env, "providers", "add", name, "--kind", kind, "--base-url", url, "--key-stdin", stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr


def ask_json(env, *args):  # noqa: F811
    r = rd(env, "ask", "--json", *args)
    return r.returncode, json.loads(r.stdout)


def test_a_cut_answer_is_truncated_with_a_notice_in_json_and_in_plain_words(env, name, sim):  # noqa: F811
    add(env, name, "openai", sim.openai_url)
    sim.inject(Fault("length", after_chunks=3))
    code, out = ask_json(env, "--model", f"{name}/gpt-4o", PROMPT)
    assert code == 0  # an answer came back; the notice says it was cut
    assert out["status"] == "truncated" and out["text"] == words(3).rstrip()
    assert "cut off" in out["notice"]["message"] and "length" in out["notice"]["message"]
    assert "routedesk ask --continue continue" in out["notice"]["fix"]
    assert out["notice"]["fix_action"]["action"] == "continue_answer"
    sim.inject(Fault("length", after_chunks=3))
    r = rd(env, "ask", "--model", f"{name}/gpt-4o", PROMPT)
    assert r.returncode == 0 and r.stdout.strip() == words(3).strip()
    assert "was cut off" in r.stderr and "routedesk ask --continue continue" in r.stderr
    hist = json.loads(rd(env, "history", "--json").stdout)
    assert "truncated" in json.dumps(hist)


def test_a_filtered_answer_keeps_its_text_and_says_why(env, name, sim):  # noqa: F811
    add(env, name, "openai", sim.openai_url)
    sim.inject(Fault("content_filter", after_chunks=2))
    code, out = ask_json(env, "--model", f"{name}/gpt-4o", PROMPT)
    assert code == 1 and out["status"] == "interrupted" and out["text"] == words(2).rstrip()
    assert out["error"]["kind"] == "content_filtered" and out["fallback_used"] is False
    assert "content filter stopped the answer" in out["error"]["message"]


def test_an_openrouter_error_chunk_interrupts_with_the_text_kept(env, name, sim):  # noqa: F811
    add(env, name, "openrouter", sim.openrouter_url)
    sim.inject(Fault("midstream_error", protocol="openrouter", after_chunks=2))
    code, out = ask_json(env, "--model", f"{name}/openai/gpt-4o-mini", PROMPT)
    assert code == 1 and out["status"] == "interrupted" and out["text"] == words(2)
    assert out["error"]["kind"] == "interrupted" and out["error"]["code"] == "stream_error"
    assert "reported an error partway through" in out["error"]["message"]
    # the provider's own words (ErrorInfo.detail, which helper "words" adds to the JSON)
    assert out["error"].get("detail", "Provider disconnected unexpectedly") == "Provider disconnected unexpectedly"


def test_served_model_and_provider_cost_reach_ask_json(env, name, sim):  # noqa: F811
    add(env, name, "openai", sim.openai_url)
    sim.served_models["gpt-4o"] = "gpt-4o-mini"
    code, out = ask_json(env, "--model", f"{name}/gpt-4o", PROMPT)
    assert code == 0 and out["served_model"] == "gpt-4o-mini" and out["price_source"] == "bundled"
    assert out["model"] == f"{name}/gpt-4o"
    sim.models["openai"].append("team-model")
    sim.chat_headers["x-litellm-response-cost"] = "0.000042"
    code, out = ask_json(env, "--model", f"{name}/team-model", PROMPT)
    assert code == 0 and out["price_source"] == "provider" and out["cost_usd_exact"] == "0.000042"
    assert out["served_model"] is None


def test_kind_anthropic_reads_a_non_streamed_messages_body(env, name, sim):  # noqa: F811
    add(env, name, "anthropic", sim.anthropic_url)
    sim.ignore_stream = True  # a proxy that answers stream: true with a plain Messages object
    code, out = ask_json(env, "--model", f"{name}/claude-sonnet-4-5", PROMPT)
    assert code == 0, out
    assert out["status"] == "complete" and out["text"] == default_reply([{"role": "user", "content": PROMPT}])
    assert out["usage"] == {"input_tokens": sim.usage_log[-1].input_tokens,
                            "output_tokens": sim.usage_log[-1].output_tokens}
    sim.inject(Fault("length", protocol="anthropic", after_chunks=4))
    code, out = ask_json(env, "--model", f"{name}/claude-sonnet-4-5", PROMPT)
    assert code == 0 and out["status"] == "truncated" and out["text"] == words(4).rstrip()
