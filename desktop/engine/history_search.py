"""Search every conversation: the one query both the CLI (`routedesk search`) and the
window's search box run, so they show the same conversations, snippets and dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desktop.storage import Store

__all__ = ["SearchResult", "search_history", "SEARCH_LIMIT"]

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class SearchResult:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str  # plain text on one line, matches wrapped in « »
    snippet_html: str  # HTML-escaped, matches in <b></b>
    created_at: datetime  # when the matching message was written

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "conversation_title": self.conversation_title,
            "message_id": self.message_id,
            "role": self.role,
            "snippet": self.snippet,
            "date": self.created_at.isoformat(),
        }


def search_history(store: Store, query: str, *, limit: int = SEARCH_LIMIT) -> list[SearchResult]:
    """Best matches first, over conversations not deleted; any input is safe."""
    return [
        SearchResult(
            conversation_id=h.conversation_id,
            conversation_title=h.conversation_title or "Untitled",
            message_id=h.message_id,
            role=h.role,
            snippet=" ".join(h.snippet.split()),
            snippet_html=" ".join(h.snippet_html.split()),
            created_at=h.created_at,
        )
        for h in store.search(query, limit=limit)
    ]
