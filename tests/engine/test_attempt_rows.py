"""Attempt rows tell what happened: which model was tried, what its stream reported
(usage) and when it ran, for the attempts that failed as well as the one that answered.
The history and the spend views read these rows after the fact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from desktop.core.types import Usage
from desktop.engine.events import AnswerDelta
from tests.simulator import Fault


def _in_order(before: datetime, rows, after: datetime) -> list[datetime]:
    times = [before]
    for row in rows:
        assert row.started_at is not None and row.ended_at is not None, row
        times += [row.started_at, row.ended_at]
    times.append(after)
    assert times == sorted(times), times
    return times


async def test_fallback_run_records_each_attempt_with_usage_and_times(engine, sim):
    strong, weak = engine.pair().strong, engine.pair().weak
    sim.inject(Fault("rate_limited", protocol="openai", retry_after=1, times=10))
    before = datetime.now(UTC)
    result = await engine.send(None, "Explain the water cycle in two lines", mode="strong")
    after = datetime.now(UTC)
    assert result.status == "complete" and result.model == weak

    rows = engine.store.get_message(result.message_id).attempts
    assert [(r.ref, r.ok) for r in rows] == [(strong, False), (weak, True)]
    failed, answered = rows
    assert failed.error.kind == "rate_limited"
    assert failed.usage is None  # three refusals, no tokens reported (none billed either)
    reported = sim.usage_log[-1]
    assert answered.usage == Usage(reported.input_tokens, reported.output_tokens) == result.usage
    _in_order(before, rows, after)

    (entry,) = engine.store.ledger()
    assert entry.ref == weak and entry.usage == answered.usage  # the row and the bill agree


async def test_a_skipped_model_starts_and_ends_at_once(engine, sim):
    strong = engine.pair().strong
    engine.store.update_provider(strong.provider, base_url="http://127.0.0.1:9/v1")
    engine.forget_provider(strong.provider)
    await engine.send(None, "hello", mode="strong")  # unreachable: cooled down
    second = await engine.send(None, "hello again", mode="strong")
    skipped, answered = engine.store.get_message(second.message_id).attempts
    assert second.attempts[0].skipped and skipped.ref == strong and not skipped.ok
    assert skipped.started_at == skipped.ended_at <= answered.started_at <= answered.ended_at


async def test_interrupted_attempt_keeps_its_times(engine, sim):
    sim.inject(Fault("cut", protocol="openai", after_chunks=3))
    before = datetime.now(UTC)
    result = await engine.send(None, "tell me a long story about foxes", mode="strong")
    after = datetime.now(UTC)
    assert result.status == "interrupted" and result.text
    (row,) = engine.store.get_message(result.message_id).attempts
    assert not row.ok and row.error.kind == "interrupted"
    assert row.usage is None  # the stream was cut before it reported usage
    _in_order(before, [row], after)


async def test_stopped_answer_records_its_attempt(engine, sim):
    sim.inject(Fault("stall", protocol="openai", after_chunks=2, delay=30))
    got_text = asyncio.Event()

    def on_event(ev):
        if isinstance(ev, AnswerDelta):
            got_text.set()

    before = datetime.now(UTC)
    task = asyncio.create_task(engine.send(None, "one two three four", mode="strong", on_event=on_event))
    await asyncio.wait_for(got_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = datetime.now(UTC)
    sim.release_stalls()
    conv = engine.store.list_conversations()[0]
    answer = engine.store.messages(conv.id)[-1]
    assert answer.status == "stopped"
    (row,) = answer.attempts
    assert row.ref == engine.pair().strong
    _in_order(before, [row], after)
