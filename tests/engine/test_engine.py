"""The engine end to end against the provider simulator: streaming, exact usage and
cost, retries, fallbacks, cooldowns, interruptions and cancellation."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from desktop.core.types import ModelRef, Usage
from desktop.engine.events import AnswerDelta, AttemptFailed
from desktop.terminal import fix_text
from tests.simulator import Fault


def strong(engine):
    return engine.pair().strong


def weak(engine):
    return engine.pair().weak


async def test_answer_streams_and_is_stored_with_exact_usage(engine, sim):
    seen_during_stream = []

    def on_event(ev):
        if isinstance(ev, AnswerDelta) and not seen_during_stream:
            # The user's message is in the database before the answer has finished.
            msgs = engine.store.messages(ev_conv[0])
            seen_during_stream.append([(m.role, m.status) for m in msgs])

    ev_conv = [engine.store.create_conversation("t")]
    result = await engine.send(ev_conv[0], "Explain photosynthesis briefly", mode="strong", on_event=on_event)

    assert result.status == "complete"
    assert result.text == sim.reply([{"role": "user", "content": "Explain photosynthesis briefly"}])
    assert seen_during_stream == [[("user", "complete"), ("assistant", "streaming")]]
    assert result.model == strong(engine)
    reported = sim.usage_log[-1]
    assert result.usage == Usage(reported.input_tokens, reported.output_tokens)
    stored = engine.store.messages(ev_conv[0])[-1]
    assert stored.status == "complete" and stored.text == result.text
    assert stored.usage == result.usage and stored.cost_usd == result.cost_usd
    assert result.ttft_ms is not None


async def test_bundled_price_then_override_changes_the_very_next_message(engine, sim):
    first = await engine.send(None, "hello there", mode="strong")
    u = first.usage
    # gpt-4o bundled: $2.50 in / $10 out per million tokens
    assert first.price_source == "bundled"
    assert first.cost_usd == (Decimal("2.5") * u.input_tokens + Decimal("10") * u.output_tokens) / Decimal(1_000_000)

    engine.store.set_price_override(strong(engine), Decimal("100"), Decimal("200"))
    second = await engine.send(first.conversation_id, "hello again", mode="strong")
    u2 = second.usage
    assert second.price_source == "override"
    assert second.cost_usd == (Decimal(100) * u2.input_tokens + Decimal(200) * u2.output_tokens) / Decimal(1_000_000)
    assert engine.store.spend_total() == first.cost_usd + second.cost_usd


async def test_local_model_costs_zero_and_unknown_price_is_not_free(engine, sim, names):
    local = await engine.send(None, "hi", mode="weak")
    assert local.model == ModelRef("ollama", "llama3.2:latest")
    assert local.cost_usd == 0 and local.price_source == "local"

    sim.models["openai"].append("my-private-finetune")
    odd = await engine.send(None, "hi", mode=ModelRef(names["openai"], "my-private-finetune"))
    assert odd.status == "complete"
    assert odd.cost_usd is None and odd.price_source == "unknown"


async def test_quota_exhausted_falls_back_and_says_why(engine, sim):
    sim.inject(Fault("quota_exhausted", protocol="openai"))
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "complete"
    assert result.model == weak(engine)
    assert result.fallback_used
    failed = result.attempts[0]
    assert failed.model == strong(engine) and failed.error.kind == "quota_exhausted"
    assert "credit" in failed.error.message.lower() or "quota" in failed.error.message.lower()
    assert "llama3.2" in str(failed.error.fix)  # the fix names the model that keeps answering
    assert result.attempts[1].error is None


async def test_rate_limit_is_retried_honouring_retry_after(engine, sim, sleeps):
    sim.inject(Fault("rate_limited", protocol="openai", retry_after=7))
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "complete" and result.model == strong(engine)
    assert sleeps.delays == [7.0]
    assert not result.fallback_used
    assert result.attempts[-1].retries == 1


async def test_persistent_rate_limit_retries_bounded_then_falls_back(engine, sim, sleeps):
    sim.inject(Fault("rate_limited", protocol="openai", retry_after=1, times=10))
    result = await engine.send(None, "hello", mode="strong")
    assert result.model == weak(engine) and result.fallback_used
    assert len(sleeps.delays) == 2  # bounded
    assert result.attempts[0].error.kind == "rate_limited"


@pytest.mark.parametrize(
    "fault,kind",
    [
        ("auth_invalid", "auth_invalid"),
        ("overloaded", "overloaded"),
        ("server_error", "server_error"),
        ("server_error_html", "server_error"),
        ("gateway_timeout", "server_error"),
        ("model_not_found", "model_not_found"),
        ("context_too_long", "context_too_long"),
        ("error_in_200", "server_error"),  # the body inside the 200 says what it was
        ("malformed_sse", "bad_response"),
    ],
)
async def test_each_fallback_kind_before_first_token(engine, sim, fault, kind):
    sim.inject(Fault(fault, protocol="openai", times=5))
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "complete", result.error
    assert result.model == weak(engine) and result.fallback_used
    assert result.attempts[0].error.kind == kind
    assert result.attempts[0].error.message and result.attempts[0].error.fix
    assert "{" not in result.attempts[0].error.message  # plain words, not raw JSON


async def test_content_filtered_does_not_fall_back(engine, sim):
    sim.inject(Fault("content_filtered", protocol="openai"))
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "error"
    assert result.error.kind == "content_filtered"
    assert [a.model for a in result.attempts] == [strong(engine)]
    assert not any(r.path.startswith("/api/chat") for r in sim.requests)


async def test_cut_after_first_token_keeps_partial_text_as_interrupted(engine, sim):
    sim.inject(Fault("cut", protocol="openai", after_chunks=3))
    result = await engine.send(None, "tell me a long story about foxes", mode="strong")
    assert result.status == "interrupted"
    assert result.error.kind == "interrupted"
    assert result.text and len(result.text.split()) <= 3
    stored = engine.store.get_message(result.message_id)
    assert stored.status == "interrupted" and stored.text == result.text
    assert not result.fallback_used  # the user already read part of it: offer a retry instead


async def test_midstream_provider_error_keeps_partial(engine, sim, names):
    sim.inject(Fault("midstream_error", protocol="anthropic", after_chunks=2))
    result = await engine.send(None, "hello there friend", mode=ModelRef(names["anthropic"], "claude-3-5-haiku-latest"))
    assert result.status == "interrupted"
    assert result.text
    # an error event after text interrupts the answer; Anthropic's words ("Overloaded") are its detail
    assert result.error.kind == "interrupted" and result.error.code == "stream_error"


async def test_stall_after_first_token_times_out_with_partial(engine, sim):
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=30))
    result = await engine.send(None, "one two three four five", mode="strong")
    sim.release_stalls()
    assert result.status == "interrupted"
    assert result.error.kind == "timeout"
    assert result.text


async def test_unreachable_provider_falls_back_and_is_cooled_down(engine, sim, monkeypatch):
    engine.store.update_provider(strong(engine).provider, base_url="http://127.0.0.1:9/v1")
    engine.forget_provider(strong(engine).provider)
    first = await engine.send(None, "hello", mode="strong")
    assert first.model == weak(engine)
    assert first.attempts[0].error.kind == "unreachable"

    before = len(sim.requests)
    second = await engine.send(None, "hello again", mode="strong")
    assert second.model == weak(engine)
    assert second.attempts[0].skipped
    assert "failed moments ago" in second.attempts[0].error.message
    assert len(sim.requests) == before + 1  # only the fallback was called


async def test_missing_key_is_misconfigured_and_falls_back(engine, keystore, sim):
    keystore.delete(strong(engine).provider)
    engine.forget_provider(strong(engine).provider)
    result = await engine.send(None, "hello", mode="strong")
    assert result.model == weak(engine)
    err = result.attempts[0].error
    assert err.kind == "misconfigured"
    assert "key" in err.message.lower() and "--key-stdin" in fix_text(err.fix)


async def test_every_candidate_failing_lists_each_attempt(engine, sim):
    sim.inject(Fault("auth_invalid", protocol="openai"))
    sim.models["ollama"].clear()  # llama3.2 is not pulled
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "error"
    kinds = [a.error.kind for a in result.attempts]
    assert kinds == ["auth_invalid", "model_not_found"]
    assert "ollama pull llama3.2" in str(result.attempts[1].error.fix)
    assert "auth_invalid" in result.error.message and "model_not_found" in result.error.message
    assert "llama3.2" not in str(result.error.fix) and not result.error.fix.fallback  # it failed too


async def test_cancelling_keeps_the_partial_answer_as_stopped(engine, sim):
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=30))
    got_text = asyncio.Event()

    def on_event(ev):
        if isinstance(ev, AnswerDelta):
            got_text.set()

    task = asyncio.create_task(engine.send(None, "one two three four", mode="strong", on_event=on_event))
    await asyncio.wait_for(got_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sim.release_stalls()
    conv = engine.store.list_conversations()[0]
    answer = engine.store.messages(conv.id)[-1]
    assert answer.status == "stopped" and answer.text


async def test_conversation_context_is_sent(engine, sim):
    first = await engine.send(None, "My name is Ada", mode="strong")
    await engine.send(first.conversation_id, "What is my name?", mode="strong")
    body = sim.requests[-1].json_body
    contents = [m["content"] for m in body["messages"]]
    assert contents[0] == "My name is Ada" and contents[-1] == "What is my name?"
    assert first.text in contents


async def test_retry_events_tell_the_listener(engine, sim):
    sim.inject(Fault("server_error", protocol="openai"))
    events = []
    await engine.send(None, "hello", mode="strong", on_event=events.append)
    failed = [e for e in events if isinstance(e, AttemptFailed)]
    assert len(failed) == 1 and failed[0].will_retry and failed[0].error.kind == "server_error"
