"""A listener that raises (a bug in a window callback, say) must not leave the answer row
``streaming`` in a running app, nor book its usage twice: the row is closed with the text
the user saw, and the exception still reaches the caller."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desktop.core.types import ModelRef
from desktop.engine.events import AnswerDelta, AnswerFinished


class Boom(Exception):
    pass


@pytest.mark.parametrize("when", ["first_delta", "third_delta"])
async def test_a_raising_listener_closes_the_answer(rig, sim, when):
    seen: list[str] = []

    def on_event(ev):
        if isinstance(ev, AnswerDelta):
            seen.append(ev.text)
            if (when == "first_delta" and len(seen) == 1) or (when == "third_delta" and len(seen) == 3):
                raise Boom()

    conv = rig.engine.store.create_conversation("t")
    with pytest.raises(Boom):
        await rig.engine.send(conv, "tell me about lighthouses", mode=ModelRef("ollama", "llama3.2:latest"),
                              on_event=on_event)
    user, answer = rig.engine.store.messages(conv)
    assert user.text == "tell me about lighthouses"
    assert answer.status == "interrupted" and answer.text == "".join(seen)
    assert answer.error is not None and answer.error.message
    # and the next message works
    r = await rig.engine.send(conv, "again", mode=ModelRef("ollama", "llama3.2:latest"))
    assert r.status == "complete"


async def test_a_listener_raising_on_finish_books_usage_once(rig, sim):
    def on_event(ev):
        if isinstance(ev, AnswerFinished):
            raise Boom()

    with pytest.raises(Boom):
        await rig.engine.send(None, "hello there", mode=rig.ref("openai", "gpt-4o-mini"), on_event=on_event)
    assert len(rig.engine.store.ledger()) == len(sim.usage_log) == 1
    assert rig.engine.store.spend_total() > Decimal(0)
