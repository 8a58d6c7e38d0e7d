"""Through the engine: the server's words are stored with the attempt and the answer, and a
request that can never succeed by waiting (larger than a per-minute token limit; a
certificate that doesn't verify) is sent exactly once before the fallback answers."""

from __future__ import annotations

from desktop.core.types import ModelRef
from tests.simulator import Fault
from tests.simulator.tls import UntrustedTLSServer


def _chat_requests(sim, model: str) -> int:
    return sum(1 for r in sim.requests
               if r.path.endswith("/chat/completions") and (r.json_body or {}).get("model") == model)


async def test_request_too_large_for_the_tpm_limit_is_sent_once_then_falls_back(engine, sim, sleeps):
    strong, weak = engine.pair().strong, engine.pair().weak
    sim.inject(Fault("request_too_large", protocol="openai", times=None))
    result = await engine.send(None, "Summarise this long conversation", mode="strong")

    assert result.status == "complete" and result.model == weak
    assert _chat_requests(sim, strong.model) == 1  # never sent twice: waiting cannot help
    assert sleeps.delays == []  # and no backoff was waited either
    failed = result.attempts[0]
    assert failed.model == strong and failed.retries == 0
    assert failed.error.kind == "context_too_long"
    assert "30000" in failed.error.message and "31538" in failed.error.message
    row = engine.store.get_message(result.message_id).attempts[0]
    assert row.error.detail.startswith("Request too large for gpt-4o in organization")
    assert row.error.detail == failed.error.detail


async def test_an_ordinary_rate_limit_is_still_retried(engine, sim, sleeps):
    strong = engine.pair().strong
    sim.inject(Fault("rate_limited", protocol="openai", retry_after=1, times=1))
    result = await engine.send(None, "hello", mode="strong")
    assert result.status == "complete" and result.model == strong
    assert _chat_requests(sim, strong.model) == 2 and sleeps.delays == [1.0]


async def test_the_proxys_words_are_stored_with_the_attempt_and_the_answer(engine, sim):
    strong = engine.pair().strong
    sim.inject(Fault("proxy_upstream_auth", protocol="openai", times=None))
    sim.inject(Fault("server_error", protocol="ollama", times=None))
    result = await engine.send(None, "hello", mode="strong")

    assert result.status == "error"
    stored = engine.store.get_message(result.message_id)
    first = stored.attempts[0]
    assert first.ref == strong and first.error.kind == "auth_invalid"
    assert first.error.detail.startswith("litellm.AuthenticationError: AuthenticationError: OpenAIException")
    assert "[redacted]" in first.error.detail and "5678" not in first.error.detail
    assert "proxy" in first.error.message
    # the answer's error is the first failure's, words included
    assert stored.error is not None and stored.error.detail == first.error.detail
    assert result.error.detail == first.error.detail
    assert stored.attempts[1].error.detail == "llama runner process has terminated: exit status 2"


async def test_a_certificate_that_does_not_verify_is_tried_once(engine, sim, keystore, names, tmp_path, sleeps):
    name = names["openai"] + "tls"
    with UntrustedTLSServer(tmp_path) as tls:
        engine.store.add_provider(name, "openai-compatible", tls.url)
        keystore.set(name, "sk-test-key")
        try:
            result = await engine.send(None, "hello", mode=ModelRef(name, "m"))
        finally:
            keystore.delete(name)
        assert tls.handshakes == 1  # unreachable is retried once by default; a TLS failure is not
    assert result.status == "complete" and result.model == engine.pair().weak
    failed = result.attempts[0]
    assert failed.error.kind == "unreachable" and failed.error.code == "tls"
    assert "certificate" in failed.error.message
    assert "certificate verify failed" in failed.error.detail
    assert sleeps.delays == []
