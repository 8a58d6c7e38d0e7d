"""Time limits as a user meets them, against the provider simulator: a request that timed
out after it was sent is never sent again to the same model (the provider may still be
running it, and billing it); the message names the limit and the fix says how to raise it;
a local server gets a longer first token because it loads the model on first use."""

from __future__ import annotations

import pytest

from desktop.core.errors import ErrorKind, RouteDeskError, retry_limit
from desktop.core.fixes import FixAction
from desktop.engine.app import Engine
from desktop.engine.provider_settings import TIMEOUT_OPTION
from desktop.providers.presets import LOCAL_FIRST_TOKEN_S
from desktop.terminal import render
from tests.simulator import Fault


def chat_requests(sim, protocol: str = "openai") -> int:
    return sum(1 for r in sim.requests if r.protocol == protocol and r.method == "POST")


async def test_no_first_token_in_time_is_sent_once_then_falls_back(engine, sim):
    strong = engine.pair().strong
    sim.inject(Fault("stall", protocol="openai", delay=None))  # holds before any byte
    result = await engine.send(None, "hello there", mode="strong")
    sim.release_stalls()

    assert chat_requests(sim) == 1  # not retried on the same model
    assert result.status == "complete" and result.model == engine.pair().weak and result.fallback_used
    err = result.attempts[0].error
    assert err.kind == "timeout" and "didn't start answering within 2s" in err.message
    assert err.fix.action is FixAction.RAISE_TIMEOUT
    words = render(err.fix)
    assert ("providers", "add", strong.provider, "--kind", "openai", "--base-url", sim.openai_url,
            "--timeout", "4") in words.commands
    assert "the limit is 2 s now" in words.text
    assert "Timeout in Settings" in err.fix.text  # the window's words name the field


async def test_a_stall_between_tokens_keeps_the_partial_and_is_sent_once(engine, sim):
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=None))
    result = await engine.send(None, "one two three four five", mode="strong")
    sim.release_stalls()
    assert chat_requests(sim) == 1
    assert result.status == "interrupted" and result.text
    assert "nothing arrived for 2s" in result.error.message
    assert result.error.fix.action is FixAction.RAISE_TIMEOUT


async def test_a_local_model_may_take_longer_than_the_read_limit_to_start(engine, sim):
    ollama = engine.provider("ollama")
    assert ollama.timeouts.first == LOCAL_FIRST_TOKEN_S and ollama.timeouts.read == 2.0
    assert engine.provider(engine.pair().strong.provider).timeouts.first == 2.0  # a cloud one doesn't
    sim.inject(Fault("slow_first_token", protocol="ollama", delay=2.5))  # "loading" longer than read=2
    result = await engine.send(None, "hello", mode="weak")
    assert result.status == "complete" and result.model == engine.pair().weak
    assert chat_requests(sim, "ollama") == 1


async def test_the_users_timeout_is_the_first_token_and_the_between_token_limit(engine):
    engine.store.add_provider("ollama", "ollama", None, options={TIMEOUT_OPTION: 30})
    engine.forget_provider("ollama")
    t = engine.provider("ollama").timeouts
    assert (t.first, t.read) == (30.0, 30.0)


def test_defaults_of_a_fresh_engine(home):
    eng = Engine.open(home)
    try:
        assert eng.provider_settings("ollama").local
        t = eng.provider("ollama").timeouts
        assert (t.first, t.read) == (LOCAL_FIRST_TOKEN_S, 60.0)
    finally:
        eng.store.close()


@pytest.mark.parametrize(("code", "tries"), [("read_timeout", 0), ("connect_timeout", 1), ("pool_timeout", 1)])
def test_only_a_timeout_before_sending_is_retried(code, tries):
    err = RouteDeskError(ErrorKind.TIMEOUT, "x", code=code)
    assert retry_limit(err) == tries and err.retryable is bool(tries)
