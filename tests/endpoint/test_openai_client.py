"""The local endpoint, driven by the official ``openai`` Python client as any tool would:
answers (whole and streamed) come from the engine's own run - routed, billed to the
client, not in the chat history - and failures come back in OpenAI's shape with the
status their kind deserves."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from desktop.storage import ClientStore
from tests.simulator import Fault

HELLO = [{"role": "user", "content": "hello there, how are you"}]


def reply_to(sim, text: str) -> str:
    return sim.reply([{"role": "user", "content": text}])


async def test_a_routed_answer_names_the_model_that_answered_and_is_billed_to_the_client(endpoint, sim):
    raw = await endpoint.client().chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    answer = raw.parse()
    assert answer.choices[0].message.content == reply_to(sim, HELLO[0]["content"])
    assert answer.model == "ollama/llama3.2:latest"  # a short greeting goes to the weak model
    assert raw.headers["x-routedesk-route"] == "weak"
    assert raw.headers["x-routedesk-cost-usd"] == "0"
    words = answer.choices[0].message.content.split()
    assert answer.usage.prompt_tokens == 5 + 3 and answer.usage.completion_tokens == len(words)

    store = endpoint.engine.store
    [entry] = store.ledger()
    assert (str(entry.ref), entry.usage.output_tokens, entry.choice) == ("ollama/llama3.2:latest",
                                                                        answer.usage.completion_tokens, "weak")
    [spend] = ClientStore(store).spend_by_client()
    assert (spend.name, spend.requests, spend.estimated) == ("tests", 1, 0)
    assert store.list_conversations() == []  # the ledger has it, the chat history does not


async def test_a_named_model_answers_and_its_price_is_in_the_header(endpoint, sim):
    ref = str(endpoint.ref("openai", "gpt-4o"))
    raw = await endpoint.client().chat.completions.with_raw_response.create(model=ref, messages=HELLO)
    answer = raw.parse()
    assert answer.model == ref
    assert raw.headers["x-routedesk-route"] == "fixed"
    [entry] = endpoint.engine.store.ledger()
    assert entry.cost_usd is not None and entry.cost_usd > 0
    assert Decimal(raw.headers["x-routedesk-cost-usd"]) == entry.cost_usd
    assert sim.requests[-1].path.endswith("/chat/completions")


async def test_streamed_answer_arrives_in_chunks_with_usage_at_the_end(endpoint, sim):
    stream = await endpoint.client().chat.completions.create(
        model="strong", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply_to(sim, HELLO[0]["content"])
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == len(text.split())
    assert {c.model for c in chunks} == {str(endpoint.ref("openai", "gpt-4o"))}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == len(text.split())
    [entry] = endpoint.engine.store.ledger()
    assert entry.usage.output_tokens == last.usage.completion_tokens


async def test_without_include_usage_no_usage_chunk_is_sent(endpoint, sim):
    stream = await endpoint.client().chat.completions.create(model="weak", messages=HELLO, stream=True)
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


async def test_models_lists_the_routed_names_and_every_known_model(endpoint, sim):
    ids = [m.id for m in (await endpoint.client().models.list()).data]
    assert ids[:3] == ["auto", "strong", "weak"]
    for ref in ("openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"):
        role, model = ref.split("/")
        assert str(endpoint.ref(role, model)) in ids
    assert "ollama/llama3.2:latest" in ids


async def test_exhausted_quota_with_no_fallback_is_429_insufficient_quota_in_plain_words(endpoint, sim):
    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)  # nothing to fall back to
    sim.inject(Fault("quota_exhausted", protocol="openai", times=None))
    with pytest.raises(openai.RateLimitError) as caught:
        await endpoint.client().chat.completions.create(model="auto", messages=HELLO)
    err = caught.value
    assert err.status_code == 429 and err.code == "insufficient_quota" and err.type == "insufficient_quota"
    body = err.body
    assert set(body) >= {"message", "type", "code", "param"}
    assert "no credit left" in body["message"] and "sk-test-key" not in str(body)
    assert body["routedesk"]["kind"] == "quota_exhausted" and body["routedesk"]["fix"]
    assert endpoint.engine.store.ledger() == []


async def test_exhausted_quota_falls_back_like_the_window(endpoint, sim):
    sim.inject(Fault("quota_exhausted", protocol="openai", times=None))
    raw = await endpoint.client().chat.completions.with_raw_response.create(model="strong", messages=HELLO)
    answer = raw.parse()
    assert answer.model == "ollama/llama3.2:latest"
    assert answer.routedesk["fallback_used"] is True  # type: ignore[attr-defined]
    assert answer.routedesk["attempts"][0]["error"]["kind"] == "quota_exhausted"  # type: ignore[attr-defined]


async def test_rate_limited_after_retries_is_429_rate_limit(endpoint, sim):
    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)
    sim.inject(Fault("rate_limited", protocol="openai", times=None, retry_after=0))
    with pytest.raises(openai.RateLimitError) as caught:
        await endpoint.client().chat.completions.create(model="auto", messages=HELLO)
    assert caught.value.code == "rate_limit_exceeded"
    assert len([r for r in sim.requests if r.path.endswith("/chat/completions")]) > 1  # retried first


async def test_a_stream_that_fails_before_any_text_gets_the_failures_status(endpoint, sim):
    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)
    sim.inject(Fault("quota_exhausted", protocol="openai", times=None))
    with pytest.raises(openai.RateLimitError) as caught:
        stream = await endpoint.client().chat.completions.create(model="auto", messages=HELLO, stream=True)
        [c async for c in stream]
    assert caught.value.code == "insufficient_quota"


async def test_a_stream_broken_after_some_text_ends_with_openais_error_event(endpoint, sim):
    endpoint.engine.set_pair(endpoint.ref("openai", "gpt-4o"), None)
    sim.inject(Fault("cut", protocol="openai", after_chunks=2))
    stream = await endpoint.client().chat.completions.create(model="auto", messages=HELLO, stream=True)
    seen = []
    with pytest.raises(openai.APIError) as caught:
        async for c in stream:
            seen.append(c.choices[0].delta.content or "")
    assert "".join(seen) and "broke off" in caught.value.message


async def test_unknown_model_is_404_model_not_found(endpoint, sim):
    for name in ("gpt-5-turbo-ultra", "nosuchprovider/gpt-4o"):
        with pytest.raises(openai.NotFoundError) as caught:
            await endpoint.client().chat.completions.create(model=name, messages=HELLO)
        assert caught.value.code == "model_not_found" and "/v1/models" in caught.value.message


async def test_a_wrong_or_missing_client_token_is_401(endpoint, sim):
    for token in ("rdk-not-a-real-token", "sk-test-key"):  # a provider key is no client token
        with pytest.raises(openai.AuthenticationError) as caught:
            await endpoint.client(token).chat.completions.create(model="auto", messages=HELLO)
        assert caught.value.code == "invalid_api_key" and "routedesk clients add" in caught.value.message
    assert sim.requests == [] and endpoint.engine.store.ledger() == []


async def test_with_history_on_requests_appear_in_the_chat_history(endpoint, sim):
    endpoint.engine.endpoint.set_history(True)
    await endpoint.client().chat.completions.create(model="weak", messages=HELLO)
    [conv] = endpoint.engine.store.list_conversations()
    user, answer = endpoint.engine.store.messages(conv.id)
    assert user.text == HELLO[0]["content"] and answer.text == reply_to(sim, HELLO[0]["content"])
    [entry] = endpoint.engine.store.ledger()
    assert entry.message_id == answer.id and ClientStore(endpoint.engine.store).spend_by_client()[0].requests == 1


async def test_the_whole_conversation_is_sent_upstream(endpoint, sim):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": [{"type": "text", "text": "second question"}]}]
    await endpoint.client().chat.completions.create(model=str(endpoint.ref("openai", "gpt-4o")), messages=messages)
    sent = sim.requests[-1].json_body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be brief."), ("user", "first question"), ("assistant", "first answer"),
        ("user", "second question")]


