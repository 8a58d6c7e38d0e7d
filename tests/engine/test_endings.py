"""Every way a stream ends, through the engine against the simulator: an answer cut at its
limit is kept as truncated with a notice; a filtered or refused one ends as content_filtered
with its text kept and no other model asked; an error inside a 200 stream interrupts the
answer with its text kept; the model the provider says answered is recorded and billed; and
the cost a provider reports is used when RouteDesk has no price (an override still wins)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from desktop.core.fixes import FixAction
from desktop.core.types import ModelRef
from tests.simulator import Fault, default_reply, split_chunks
from tests.simulator.faults import openrouter_cost

PROMPT = "Explain photosynthesis briefly"


def first_words(n: int) -> str:
    return "".join(split_chunks(default_reply([{"role": "user", "content": PROMPT}]))[:n]).rstrip()


def bundled(provider: str, model: str, usage) -> Decimal:
    calc = calc_price(GUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
                      model_ref=model, provider_id=provider)
    return Decimal(calc.total_price)


def add_openrouter(engine, sim, names, keystore) -> str:
    names["openrouter"] = name = "or" + names["openai"][4:]
    engine.store.add_provider(name, "openrouter", sim.openrouter_url)
    keystore.set(name, "sk-test-key")
    return name


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "ollama"])
async def test_an_answer_cut_at_its_limit_is_kept_as_truncated_with_a_notice(engine, sim, names, protocol):
    ref = {"openai": ModelRef(names["openai"], "gpt-4o"),
           "anthropic": ModelRef(names["anthropic"], "claude-sonnet-4-5"),
           "ollama": ModelRef("ollama", "llama3.2:latest")}[protocol]
    sim.inject(Fault("length", protocol=protocol, after_chunks=3))
    result = await engine.send(None, PROMPT, mode=ref)
    assert result.status == "truncated" and result.ok
    assert result.text == first_words(3) and result.error is None
    assert result.notice is not None and "cut off" in result.notice.message
    assert result.notice.fix.action is FixAction.CONTINUE_ANSWER
    assert [str(a.model) for a in result.attempts] == [str(ref)]  # kept, not retried elsewhere
    stored = engine.store.messages(result.conversation_id)[-1]
    assert (stored.status, stored.text) == ("truncated", first_words(3))
    assert engine.store.ledger()[-1].usage.output_tokens == 3
    # "continue" sends the cut answer back, so the model can go on from it
    await engine.send(result.conversation_id, "continue", mode=ref)
    body = sim.requests[-1].json_body
    sent = body.get("messages", [])
    assert {"role": "assistant", "content": first_words(3)} in [
        {"role": m["role"], "content": m["content"]} for m in sent]


@pytest.mark.parametrize(("protocol", "code"), [("openai", "content_filter"), ("anthropic", "refusal")])
async def test_a_filtered_answer_keeps_its_text_is_billed_and_asks_no_other_model(engine, sim, names, protocol,
                                                                                  code):
    ref = ModelRef(names["openai"], "gpt-4o") if protocol == "openai" else ModelRef(names["anthropic"],
                                                                                    "claude-sonnet-4-5")
    sim.inject(Fault("content_filter", protocol=protocol, after_chunks=2))
    result = await engine.send(None, PROMPT, mode="strong" if protocol == "openai" else ref)
    assert result.status == "interrupted" and result.text == first_words(2)
    assert result.error.kind == "content_filtered" and result.error.code == code
    assert result.error.fix.action is FixAction.REPHRASE and not result.error.fix.fallback
    assert result.fallback_used is False and len([r for r in sim.requests if r.path.endswith(
        ("/chat/completions", "/v1/messages", "/api/chat"))]) == 1
    assert result.usage is not None and engine.store.ledger()[-1].usage == result.usage  # the tokens were paid for
    stored = engine.store.messages(result.conversation_id)[-1]
    assert stored.status == "interrupted" and stored.text == result.text
    assert stored.error.kind == "content_filtered"


async def test_a_filter_before_any_text_is_an_error_without_fallback(engine, sim, names):
    sim.inject(Fault("content_filter", protocol="openai", after_chunks=0))
    result = await engine.send(None, PROMPT, mode="strong")
    assert result.status == "error" and result.text == "" and result.error.kind == "content_filtered"
    assert "content filter stopped the answer" in result.error.message
    assert not any(r.path == "/api/chat" for r in sim.requests)  # the weak model was not asked
    # the prompt was paid for: the answer shows what the ledger booked
    [entry] = engine.store.ledger()
    assert result.usage == entry.usage and result.cost_usd == entry.cost_usd is not None
    assert engine.store.messages(result.conversation_id)[-1].cost_usd == entry.cost_usd


@pytest.mark.parametrize("protocol", ["openrouter", "anthropic"])
async def test_an_error_inside_a_200_stream_interrupts_with_the_text_kept(engine, sim, names, keystore, protocol):
    if protocol == "openrouter":
        ref = ModelRef(add_openrouter(engine, sim, names, keystore), "openai/gpt-4o-mini")
    else:
        ref = ModelRef(names["anthropic"], "claude-sonnet-4-5")
    sim.inject(Fault("midstream_error", protocol=protocol, after_chunks=2))
    result = await engine.send(None, PROMPT, mode=ref)
    assert result.status == "interrupted"
    assert result.text == "".join(split_chunks(default_reply([{"role": "user", "content": PROMPT}]))[:2])
    assert result.error.kind == "interrupted" and result.error.code == "stream_error"
    assert "reported an error partway through" in result.error.message
    words = "Provider disconnected unexpectedly" if protocol == "openrouter" else "Overloaded"
    assert getattr(result.error, "detail", words) == words  # the provider's own words, once ErrorInfo has them
    assert result.error.fix.action is FixAction.RETRY_PARTIAL
    stored = engine.store.messages(result.conversation_id)[-1]
    assert stored.status == "interrupted" and stored.text == result.text


async def test_the_model_that_answered_is_recorded_and_billed(engine, sim, names):
    sim.served_models["gpt-4o"] = "gpt-4o-mini"  # the proxy fell back
    result = await engine.send(None, PROMPT, mode="strong")
    assert result.status == "complete" and result.served_model == "gpt-4o-mini"
    assert result.model == ModelRef(names["openai"], "gpt-4o")
    assert result.price_source == "bundled"
    assert result.cost_usd == bundled("openai", "gpt-4o-mini", result.usage)
    assert result.cost_usd < bundled("openai", "gpt-4o", result.usage)
    entry = engine.store.ledger()[-1]
    assert entry.served_model == "gpt-4o-mini" and entry.cost_usd == result.cost_usd
    assert engine.store.messages(result.conversation_id)[-1].served_model == "gpt-4o-mini"
    assert result.to_dict()["served_model"] == "gpt-4o-mini"
    # a dated snapshot of the model asked for is the same model: nothing to record
    sim.served_models["gpt-4o"] = "gpt-4o-2024-08-06"
    same = await engine.send(None, PROMPT, mode="strong")
    assert same.served_model is None and same.cost_usd == bundled("openai", "gpt-4o", same.usage)


async def test_openrouter_reported_cost_is_kept_and_used_only_without_a_price(engine, sim, names, keystore):
    name = add_openrouter(engine, sim, names, keystore)
    sim.models["openrouter"].append("mystery/model-x")
    known = await engine.send(None, PROMPT, mode=ModelRef(name, "openai/gpt-4o-mini"))
    u = known.usage
    assert known.price_source == "bundled"
    assert engine.store.ledger()[-1].provider_cost_usd == openrouter_cost(u.input_tokens, u.output_tokens)
    unknown = await engine.send(None, PROMPT, mode=ModelRef(name, "mystery/model-x"))
    u = unknown.usage
    assert unknown.price_source == "provider"
    assert unknown.cost_usd == openrouter_cost(u.input_tokens, u.output_tokens)
    engine.store.set_price_override(ModelRef(name, "mystery/model-x"), Decimal("1"), Decimal("2"))
    mine = await engine.send(None, PROMPT, mode=ModelRef(name, "mystery/model-x"))
    u = mine.usage
    assert mine.price_source == "override"
    assert mine.cost_usd == (Decimal(1) * u.input_tokens + Decimal(2) * u.output_tokens) / Decimal(1_000_000)
    assert engine.store.ledger()[-1].provider_cost_usd == openrouter_cost(u.input_tokens, u.output_tokens)


async def test_litellm_cost_header_prices_a_model_without_a_price(engine, sim, names):
    sim.models["openai"].append("team-model")
    sim.chat_headers["x-litellm-response-cost"] = "0.000042"
    result = await engine.send(None, PROMPT, mode=ModelRef(names["openai"], "team-model"))
    assert result.price_source == "provider" and result.cost_usd == Decimal("0.000042")
    assert engine.store.ledger()[-1].provider_cost_usd == Decimal("0.000042")
    assert engine.store.spend_total() >= Decimal("0.000042")
