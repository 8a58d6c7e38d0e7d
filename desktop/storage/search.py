"""Full-text search over message text (the FTS5 index kept by migration m005's triggers)."""

from __future__ import annotations

import html
import re

from desktop.storage.columns import clean, time_of
from desktop.storage.connection import StoreCore
from desktop.storage.records import SearchHit

__all__ = ["SearchStore", "fts_query"]

_FTS_TOKEN = re.compile(r"\w", re.UNICODE)


def fts_query(text: str) -> str:
    """Turn free user input into a safe FTS5 query: every whitespace-separated word
    becomes a quoted phrase (so ``c++ "foo`` or ``AND(`` can't be a syntax error), the
    words are ANDed, and the last one is a prefix match for search-as-you-type.
    Returns "" when the input holds nothing searchable."""
    text = clean(text).replace("\x00", " ")  # FTS5 reads the query as a C string
    words = [w for w in text.split() if _FTS_TOKEN.search(w)]
    if not words:
        return ""
    parts = ['"' + w.replace('"', '""') + '"' for w in words]
    parts[-1] += "*"
    return " ".join(parts)


class SearchStore(StoreCore):
    # -- search --------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Full-text search over message text in conversations that aren't deleted.
        Any user input is accepted (it is quoted for FTS5); best matches first."""
        match = fts_query(query)
        if not match:
            return []
        rows = self._x(
            "SELECT m.id, m.conversation_id, c.title, m.role, m.created_at,"
            " snippet(messages_fts, 0, char(2), char(3), '…', 12) AS snip,"
            " bm25(messages_fts) AS rank"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE messages_fts MATCH ? AND c.deleted_at IS NULL"
            " ORDER BY rank, m.id DESC LIMIT ?",
            (match, int(limit)),
        )
        hits = []
        for r in rows:
            raw = r["snip"] or ""
            hits.append(
                SearchHit(
                    message_id=r["id"],
                    conversation_id=r["conversation_id"],
                    conversation_title=r["title"],
                    role=r["role"],
                    snippet=raw.replace("\x02", "«").replace("\x03", "»"),
                    snippet_html=html.escape(raw).replace("\x02", "<b>").replace("\x03", "</b>"),
                    rank=float(r["rank"]),
                    created_at=time_of(r["created_at"]),  # type: ignore[arg-type]
                )
            )
        return hits
