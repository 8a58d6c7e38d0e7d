"""Full-text search over message text (the FTS5 index kept by migration m005's triggers).

A search returns a page (50 hits by default) and must stay fast when a common word
matches most of a long history. Ranking every match with bm25 before keeping the top
50 costs tens of milliseconds for such a word over 100,000 messages (benchmarks/
bench_search.py measures it as a baseline), and bm25 has a fixed cost per query term
(it counts the term's rows in the whole index) even for one row. So the page is filled
in tiers, each read newest first straight from the index (``ORDER BY rowid DESC``
stops after the page, no sort), with snippets made only for the rows kept:

0. the query as typed, its words side by side (for one word: that word);
1. every word as typed, anywhere in the message;
2. only when the words as typed match nothing, the last word as the start of a longer
   one (search-as-you-type: ``photosyn`` finds photosynthesis).

Tier 0 is picked out of tier 1's page, so it never reads further back than the page.
Tier 2 waits for tier 1 to come back empty because FTS5 reads a prefix's rows in full,
whatever the LIMIT: completing ``the`` in ``kubernetes the`` would read nearly every
row to add hits to a query that already has its answer. A prefix needs three letters for the
same reason (``p*`` or ``th*`` is a good share of the vocabulary).
"""

from __future__ import annotations

import html
import re
import sqlite3

from desktop.storage.columns import clean, time_of
from desktop.storage.connection import StoreCore
from desktop.storage.records import SearchHit

__all__ = ["SearchStore", "fts_query"]

_FTS_TOKEN = re.compile(r"\w", re.UNICODE)
_TOKEN_CHARS = re.compile(r"[^\W_]+", re.UNICODE)  # what unicode61 keeps as a token
_MIN_PREFIX = 3  # letters the last word needs before it is completed
_TIER_PHRASE, _TIER_WORDS, _TIER_PREFIX = 0.0, 1.0, 2.0


def _words(text: str) -> list[str]:
    text = clean(text).replace("\x00", " ")  # FTS5 reads the query as a C string
    return [w for w in text.split() if _FTS_TOKEN.search(w)]


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> str:
    """Turn free user input into a safe FTS5 query: every whitespace-separated word
    becomes a quoted phrase (so ``c++ "foo`` or ``AND(`` can't be a syntax error), the
    words are ANDed, and the last one is a prefix match for search-as-you-type.
    Returns "" when the input holds nothing searchable."""
    words = _words(text)
    if not words:
        return ""
    parts = [_quoted(w) for w in words]
    parts[-1] += "*"
    return " ".join(parts)


class SearchStore(StoreCore):
    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Full-text search over message text in conversations that aren't deleted.
        Any user input is accepted (it is quoted for FTS5). Best matches first: the
        words side by side, then every word anywhere, each most recent first; when the
        words as typed match nothing, the last one is completed (see the module's
        docstring)."""
        words = _words(query)
        limit = int(limit)
        if not words or limit <= 0:
            return []
        exact = " ".join(_quoted(w) for w in words)
        rows = self._newest(exact, limit)
        if not rows:
            tokens = _TOKEN_CHARS.findall(words[-1])
            if tokens and len(tokens[-1]) >= _MIN_PREFIX:
                return [_hit(r, _TIER_PREFIX) for r in self._newest(exact + "*", limit)]
            return []
        if len(words) == 1:
            return [_hit(r, _TIER_PHRASE) for r in rows]
        side_by_side = self._within(_quoted(" ".join(words)), [r["id"] for r in rows])
        return [_hit(r, _TIER_PHRASE) for r in rows if r["id"] in side_by_side] + [
            _hit(r, _TIER_WORDS) for r in rows if r["id"] not in side_by_side
        ]

    def _newest(self, match: str, limit: int) -> list[sqlite3.Row]:
        """The ``limit`` most recent visible matches, each with its snippet, newest first."""
        rows = self._x(
            "SELECT m.id, m.conversation_id, c.title, m.role, m.created_at,"
            " snippet(messages_fts, 0, char(2), char(3), '…', 12) AS snip"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE messages_fts MATCH ? AND c.deleted_at IS NULL"
            " ORDER BY messages_fts.rowid DESC LIMIT ?",
            (match, limit),
        ).fetchall()
        # Rows are picked by id (the order they were stored, which the index can read
        # backwards) and shown by date (fixed-width UTC text sorts as time), so an
        # imported older message sits where its date says.
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return rows

    def _within(self, match: str, ids: list[int]) -> set[int]:
        """Which of ``ids`` also match ``match``: the index is read over their range only."""
        rows = self._x(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ?",
            (match, min(ids), max(ids)),
        )
        return {int(r[0]) for r in rows} & set(ids)


def _hit(r: sqlite3.Row, rank: float) -> SearchHit:
    raw = r["snip"] or ""
    created = time_of(r["created_at"])
    assert created is not None  # messages.created_at is NOT NULL
    return SearchHit(
        message_id=r["id"],
        conversation_id=r["conversation_id"],
        conversation_title=r["title"],
        role=r["role"],
        snippet=raw.replace("\x02", "«").replace("\x03", "»"),
        snippet_html=html.escape(raw).replace("\x02", "<b>").replace("\x03", "</b>"),
        rank=rank,
        created_at=created,
    )

