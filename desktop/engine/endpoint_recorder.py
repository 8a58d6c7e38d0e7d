"""Where the engine's run writes a request that came through the local endpoint.

``Engine.run_detached`` runs a message exactly as ``Engine.send`` does; the only
difference is where its rows go. ``EndpointRecorder`` books every ledger entry with the
client that caused it and, unless the user asked for endpoint requests in the chat
history (``HISTORY_SETTING``), writes no conversation, message or attempt row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from desktop.core.types import ChatMessage, ModelRef, RouteDecision, Usage
from desktop.engine.conversations import title_for
from desktop.storage import ClientRecord, ClientStore, Store

__all__ = ["EndpointRecorder", "HISTORY_SETTING", "Recorder", "estimate_usage"]

#: Setting: also keep requests through the endpoint in the chat history (default off).
HISTORY_SETTING = "endpoint.history"


class Recorder(Protocol):
    """What ``Engine._answer`` and its run write through (``Store`` is one)."""

    conversation_id: int
    user_message_id: int

    def start_answer(self, conv_id: int, *, route: RouteDecision | None, model: ModelRef | None = None) -> int: ...
    def save_partial(self, msg_id: int, text: str) -> None: ...
    def add_attempt(self, msg_id: int, ref: ModelRef, **kw: Any) -> int | None: ...
    def finish_answer(self, msg_id: int, **kw: Any) -> None: ...
    def add_ledger_entry(self, msg_id: int | None, ref: ModelRef, usage: Usage, cost_usd: Decimal | None,
                         price_source: str, strong_cost_usd: Decimal | None = None, choice: str = "",
                         **kw: Any) -> int: ...


def estimate_usage(context: Sequence[ChatMessage], text: str) -> Usage:
    """Tokens of a run stopped before the provider reported its usage (the client left
    mid-answer): about four characters a token, rounded up, plus each message's framing.
    Booked (and marked estimated) so that leaving early never escapes a budget."""
    prompt = sum(math.ceil(len(m.content) / 4) + 4 for m in context)
    return Usage(prompt, math.ceil(len(text) / 4) if text else 0)


class EndpointRecorder:
    """One request's rows. With ``history`` the request becomes a conversation of its own
    (its last user message, then the answer) like a message sent in the window."""

    def __init__(self, store: Store, client: ClientRecord, messages: Sequence[ChatMessage], *,
                 history: bool = False) -> None:
        self._store = store
        self._clients = ClientStore(store)
        self.client = client
        self.history = history
        self.estimated = False
        self.conversation_id = 0
        self.user_message_id = 0
        if history:
            last = next((m.content for m in reversed(messages) if m.role == "user"), "")
            self.conversation_id = store.create_conversation(title_for(last or "Local endpoint"))
            self.user_message_id = store.add_user_message(self.conversation_id, last)

    def start_answer(self, conv_id: int, *, route: RouteDecision | None, model: ModelRef | None = None) -> int:
        if self.history:
            return self._store.start_answer(conv_id, route=route, model=model)
        return 0

    def save_partial(self, msg_id: int, text: str) -> None:
        if self.history:
            self._store.save_partial(msg_id, text)

    def add_attempt(self, msg_id: int, ref: ModelRef, **kw: Any) -> int | None:
        return self._store.add_attempt(msg_id, ref, **kw) if self.history else None

    def finish_answer(self, msg_id: int, **kw: Any) -> None:
        if self.history:
            self._store.finish_answer(msg_id, **kw)

    def usage_when_stopped(self, context: Sequence[ChatMessage], text: str) -> Usage:
        self.estimated = True
        return estimate_usage(context, text)

    def add_ledger_entry(self, msg_id: int | None, ref: ModelRef, usage: Usage, cost_usd: Decimal | None,
                         price_source: str, strong_cost_usd: Decimal | None = None, choice: str = "",
                         **kw: Any) -> int:
        return self._clients.add_ledger_entry(
            self.client.id, msg_id if self.history else None, ref, usage, cost_usd, price_source,
            strong_cost_usd, choice, estimated=self.estimated, **kw,
        )
