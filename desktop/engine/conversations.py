"""Conversations: the list, a paged read of one conversation, rename, delete with
undo, and the full history (``routedesk history``). The window and the command line
read conversations only through this service."""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from datetime import timedelta

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.engine.history_search import SEARCH_LIMIT, SearchResult, search_history
from desktop.storage import ConversationRecord, MessageRecord, Store

__all__ = ["ConversationService", "ConversationHistory", "MessagePage", "PAGE_SIZE", "title_for"]

log = logging.getLogger(__name__)

#: Messages read at a time when a conversation is opened or paged back.
PAGE_SIZE = 200


@dataclass(frozen=True)
class MessagePage:
    messages: tuple[MessageRecord, ...]  # oldest first
    more_before: bool  # older messages exist


@dataclass(frozen=True)
class ConversationHistory:
    conversation: ConversationRecord
    messages: tuple[MessageRecord, ...]


class ConversationService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, limit: int | None = None) -> builtins.list[ConversationRecord]:
        """Newest activity first; deleted ones (awaiting undo) left out."""
        convs = self._store.list_conversations()
        return convs if limit is None else convs[: max(0, limit)]

    def get(self, conversation_id: int) -> ConversationRecord | None:
        return self._store.get_conversation(conversation_id)

    def latest_id(self) -> int | None:
        convs = self._store.list_conversations()
        return convs[0].id if convs else None

    def page(self, conversation_id: int, *, before_id: int | None = None, limit: int = PAGE_SIZE) -> MessagePage:
        """The newest ``limit`` messages older than ``before_id``: a 10,000-message
        conversation opens by its last page."""
        records, more = self._store.messages_page(conversation_id, before_id=before_id, limit=limit)
        return MessagePage(tuple(records), more)

    def messages(self, conversation_id: int) -> builtins.list[MessageRecord]:
        return self._store.messages(conversation_id)

    def history(self, limit: int = 20) -> builtins.list[ConversationHistory]:
        return [ConversationHistory(c, tuple(self._store.messages(c.id))) for c in self.list(limit)]

    def rename(self, conversation_id: int, title: str) -> str:
        clean = (title or "").strip()
        if not clean:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "A conversation needs a title.", "Type a few words.")
        self._store.rename_conversation(conversation_id, clean)
        return clean

    def delete(self, conversation_id: int) -> ConversationRecord | None:
        """Move a conversation to the bin (``restore`` undoes it until ``purge_deleted``);
        returns it as it was."""
        conv = self._store.get_conversation(conversation_id)
        self._store.delete_conversation(conversation_id)
        return conv

    def restore(self, conversation_id: int) -> None:
        self._store.restore_conversation(conversation_id)

    def purge_deleted(self, older_than: timedelta | None = None) -> int:
        return self._store.purge_deleted(older_than)

    def search(self, query: str, *, limit: int = SEARCH_LIMIT) -> builtins.list[SearchResult]:
        """The window's search box: the same query, snippets and dates as ``routedesk search``
        (``history_search``); a query the index can't read finds nothing rather than failing."""
        if not query.strip():
            return []
        try:
            return search_history(self._store, query, limit=limit)
        except Exception as exc:  # FTS syntax typed by accident
            log.info("search failed: %s", exc)
            return []


def title_for(text: str) -> str:
    """A new conversation's title: its first message on one line, at most 60 characters."""
    line = " ".join(text.split())
    return line[:60] + ("…" if len(line) > 60 else "")
