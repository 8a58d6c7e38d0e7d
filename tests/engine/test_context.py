"""The conversation a model is sent."""

from __future__ import annotations

import httpx

from desktop.core.errors import ErrorInfo
from desktop.core.types import ChatMessage, ModelRef, RouteDecision
from desktop.engine.app import Engine
from desktop.storage import Store

WEAK = ModelRef("ollama", "llama3.2")
ROUTE = RouteDecision("weak", 0.23, 0.5, "looks easy", "share-target", ("short prompt", "no code"))


def test_context_for_the_model(store: Store):
    """One context builder (the engine's): the system prompt, user turns and answers with
    text the user read; not failed answers nor the one being written."""
    conv = store.create_conversation("c")
    store.add_system_message(conv, "Be brief.")
    store.add_user_message(conv, "one")
    a1 = store.start_answer(conv, route=ROUTE, model=WEAK)
    store.finish_answer(a1, text="uno", status="complete")
    store.add_user_message(conv, "two")
    a2 = store.start_answer(conv, route=ROUTE, model=WEAK)
    store.finish_answer(a2, text="", status="error", error=ErrorInfo("timeout", "m", "f"))
    store.add_user_message(conv, "three")
    a3 = store.start_answer(conv, route=ROUTE, model=WEAK)
    store.finish_answer(a3, text="tr", status="stopped")
    store.add_user_message(conv, "four")
    store.start_answer(conv, route=ROUTE, model=WEAK)  # the answer being written now
    engine = Engine(store, client=httpx.AsyncClient(), router=None)
    assert engine.context_for(conv) == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "one"),
        ChatMessage("assistant", "uno"),
        ChatMessage("user", "two"),
        ChatMessage("user", "three"),
        ChatMessage("assistant", "tr"),
        ChatMessage("user", "four"),
    ]
