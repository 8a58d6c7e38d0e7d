"""The local endpoint tells its clients how an answer ended, as OpenAI does: an answer cut
at its limit ends with finish_reason "length", one a filter stopped after some text with
"content_filter" (the text kept), whole or streamed, through the official openai client."""

from __future__ import annotations

import pytest

from tests.simulator import Fault

HELLO = [{"role": "user", "content": "hello there, how are you"}]


@pytest.mark.parametrize(("kind", "finish"), [("length", "length"), ("content_filter", "content_filter")])
async def test_the_end_reason_reaches_the_client(endpoint, sim, kind, finish):
    ref = str(endpoint.ref("openai", "gpt-4o"))
    words = sim.reply(HELLO).split()
    sim.inject(Fault(kind, protocol="openai", after_chunks=3))
    whole = await endpoint.client().chat.completions.create(model=ref, messages=HELLO)
    assert whole.choices[0].finish_reason == finish
    assert whole.choices[0].message.content == " ".join(words[:3])
    sim.inject(Fault(kind, protocol="openai", after_chunks=2))
    stream = await endpoint.client().chat.completions.create(model=ref, messages=HELLO, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == " ".join(words[:2])
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [finish]
    assert len(endpoint.engine.store.ledger()) == 2  # both billed to the client
