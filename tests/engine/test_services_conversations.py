"""engine.conversations (the paged read, rename, delete with undo, history) and
engine.feedback.rate, the operations the sidebar, the chat and ``routedesk history`` use."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from desktop.cli import main
from desktop.core.errors import RouteDeskError
from desktop.core.types import ModelRef
from desktop.engine.app import Engine


@pytest.fixture
def engine(home):
    eng = Engine.open(home)
    yield eng
    eng.store.close()


def _conversation(engine, n: int) -> int:
    cid = engine.store.create_conversation("long one")
    for i in range(n):
        engine.store.add_user_message(cid, f"question {i}")
    return cid


def test_a_long_conversation_is_read_page_by_page(engine):
    cid = _conversation(engine, 7)
    last = engine.conversations.page(cid, limit=3)
    assert [m.text for m in last.messages] == ["question 4", "question 5", "question 6"] and last.more_before
    before = engine.conversations.page(cid, before_id=last.messages[0].id, limit=3)
    assert [m.text for m in before.messages] == ["question 1", "question 2", "question 3"] and before.more_before
    first = engine.conversations.page(cid, before_id=before.messages[0].id, limit=3)
    assert [m.text for m in first.messages] == ["question 0"] and not first.more_before


def test_rename_delete_and_undo(engine, capsys):
    cid = _conversation(engine, 1)
    assert engine.conversations.rename(cid, "  Trip plans ") == "Trip plans"
    with pytest.raises(RouteDeskError):
        engine.conversations.rename(cid, "   ")
    gone = engine.conversations.delete(cid)
    assert gone.title == "Trip plans"
    assert engine.conversations.list() == [] and engine.conversations.latest_id() is None
    engine.conversations.restore(cid)
    assert [c.title for c in engine.conversations.list()] == ["Trip plans"]


def test_history_json_lists_what_the_service_reads(engine, home):
    cid = _conversation(engine, 2)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["history", "--json", "--limit", "5"]) == 0
    convs = json.loads(out.getvalue())["conversations"]
    assert [(c["id"], [m["text"] for m in c["messages"]]) for c in convs] == [
        (cid, ["question 0", "question 1"])]
    assert [h.conversation.id for h in engine.conversations.history(5)] == [cid]


def test_a_thumb_on_a_weak_answer_is_stored_as_weak_feedback(engine):
    from desktop.core.types import RouteDecision

    cid = _conversation(engine, 1)
    engine.set_pair(ModelRef("work", "big"), ModelRef("ollama", "small"))
    weak = engine.store.start_answer(cid, route=RouteDecision("weak", 0.2, 0.5, "easy", "share"),
                                     model=ModelRef("ollama", "small"))
    strong = engine.store.start_answer(cid, route=RouteDecision("strong", 0.8, 0.5, "hard", "share"),
                                       model=ModelRef("work", "big"))
    assert engine.feedback.rate(weak, -1) == "thumbs_down_weak"
    assert engine.feedback.rate(strong, 1) == "thumbs_up"
    assert engine.feedback.rate(strong, 0) is None
    assert [(f.message_id, f.kind) for f in engine.store.list_feedback()] == [
        (weak, "thumbs_down_weak"), (strong, "thumbs_up")]
