"""Writing imported history: whole conversations in one transaction, each with the id
it had where it came from, so the same export imported twice lands once.

Imported rows go into ``conversations``, ``messages`` and ``attempts`` only: nothing
reaches the spend ledger, the router's score history or its feedback (an imported
answer cost nothing here and was not routed here). Message text is indexed for
search by the FTS triggers as it is inserted.

Use :class:`ImportWriter` as a context manager: every ``add`` between entering and
leaving is one ``BEGIN IMMEDIATE`` transaction, committed on a clean exit and rolled
back on any exception, so a file that turns out to be damaged halfway changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.storage.columns import error_text

__all__ = [
    "ImportedAttempt",
    "ImportedConversation",
    "ImportedMessage",
    "ImportWriter",
    "conversation_source",
    "instance_id",
    "NATIVE_SOURCE",
]

#: The ``source`` of a conversation that was written in RouteDesk itself.
NATIVE_SOURCE = "routedesk"
_INSTANCE_SETTING = "storage.instance_id"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_STORABLE_STATUSES = ("complete", "truncated", "interrupted", "stopped", "error")


@dataclass(frozen=True)
class ImportedAttempt:
    ref: ModelRef
    ok: bool
    error: ErrorInfo | None = None
    usage: Usage | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ImportedMessage:
    role: str  # "system" | "user" | "assistant"
    text: str
    created_at: datetime
    updated_at: datetime | None = None  # None: same as created_at
    status: str = "complete"
    model: ModelRef | None = None
    route: RouteDecision | None = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    error: ErrorInfo | None = None
    ttft_ms: float | None = None
    fallback_used: bool = False
    attempts: tuple[ImportedAttempt, ...] = ()
    served_model: str | None = None


@dataclass(frozen=True)
class ImportedConversation:
    source: str  # "chatgpt", "openwebui", "routedesk"
    source_id: str  # the conversation's id where it came from
    title: str
    created_at: datetime
    updated_at: datetime
    messages: tuple[ImportedMessage, ...]
    deleted_at: datetime | None = None


def _ts(value: datetime) -> str:
    """The store's fixed-width UTC text (see db.py), so imported rows sort with the rest."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is three times quicker than strftime(_TS_FORMAT) and gives the same text
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates from a broken export become U+FFFD
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"cost must be a finite Decimal, got {value!r}")
    return str(value)


def instance_id(conn: sqlite3.Connection) -> str:
    """This database's own id (made once), so a RouteDesk export names where each
    conversation was written and importing it back into the same database is a no-op."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (_INSTANCE_SETTING,)).fetchone()
    if row is not None:
        value = json.loads(row[0])
        if isinstance(value, str) and value:
            return value
    new = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (_INSTANCE_SETTING, json.dumps(new), _ts(datetime.now(UTC))),
    )
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (_INSTANCE_SETTING,)).fetchone()
    return str(json.loads(row[0]))


def conversation_source(conn: sqlite3.Connection, conversation_id: int) -> tuple[str, str]:
    """Where a conversation came from: the import's (source, id), or this database's
    own (``routedesk``, ``INSTANCE:ID``) for one written here."""
    row = conn.execute(
        "SELECT source, source_id FROM conversation_sources WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    if row is not None:
        return str(row[0]), str(row[1])
    return NATIVE_SOURCE, f"{instance_id(conn)}:{conversation_id}"


class ImportWriter:
    """Adds imported conversations inside one transaction (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, *, now: datetime | None = None) -> None:
        self._conn = conn
        self._now = _ts(now or datetime.now(UTC))
        self._instance = ""
        self._open = False
        self._staged = 0

    def __enter__(self) -> ImportWriter:
        self._conn.execute(_STAGE_SQL)
        self._conn.execute("BEGIN IMMEDIATE")
        self._instance = instance_id(self._conn)  # inside: a refused import writes not even this
        self._open = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        try:
            if exc_type is None:
                self._flush()
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("ROLLBACK")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        finally:
            self._staged = 0
            self._conn.execute("DROP TABLE IF EXISTS temp.import_stage")

    def _flush(self) -> None:
        """Move the staged messages into ``messages`` in one statement. The FTS triggers
        index them as usual, but one INSERT ... SELECT costs FTS5 a tenth of what a
        statement per row does (each statement makes it write out its pending terms)."""
        if not self._staged:
            return
        self._conn.execute(
            f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.import_stage ORDER BY seq"
        )
        self._conn.execute("DELETE FROM temp.import_stage")
        self._staged = 0

    def known(self, source: str, source_id: str) -> bool:
        """Already here: imported before (this run included), or written in this database."""
        if self._conn.execute(
            "SELECT 1 FROM conversation_sources WHERE source = ? AND source_id = ?", (source, source_id)
        ).fetchone():
            return True
        if source == NATIVE_SOURCE:
            instance, _, local = source_id.partition(":")
            if instance == self._instance and local.isdigit():
                return bool(
                    self._conn.execute("SELECT 1 FROM conversations WHERE id = ?", (int(local),)).fetchone()
                )
        return False

    def add(self, conv: ImportedConversation) -> int:
        """Insert one conversation with its messages and attempts; returns its new id."""
        if not self._open:
            raise RuntimeError("ImportWriter.add() runs inside `with ImportWriter(...)`")
        x = self._conn.execute
        cur = x(
            "INSERT INTO conversations (title, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?)",
            (
                _clean(conv.title),
                _ts(conv.created_at),
                _ts(conv.updated_at),
                None if conv.deleted_at is None else _ts(conv.deleted_at),
            ),
        )
        conv_id = int(cur.lastrowid)  # type: ignore[arg-type]
        x(
            "INSERT INTO conversation_sources (conversation_id, source, source_id, imported_at) VALUES (?, ?, ?, ?)",
            (conv_id, conv.source, conv.source_id, self._now),
        )
        if not any(m.attempts for m in conv.messages):
            self._conn.executemany(_STAGE_INSERT, [_message_row(conv_id, m) for m in conv.messages])
            self._staged += len(conv.messages)
            if self._staged >= _STAGE_ROWS:
                self._flush()
        else:  # attempts need their message's id: insert this one directly
            self._flush()
            for m in conv.messages:
                msg_id = int(x(_MESSAGE_SQL, _message_row(conv_id, m)).lastrowid)  # type: ignore[arg-type]
                self._conn.executemany(_ATTEMPT_SQL, [_attempt_row(msg_id, a) for a in m.attempts])
        return conv_id


_COLUMNS = (
    "conversation_id, role, status, text, provider, model, route_choice, route_score, route_threshold,"
    " route_policy, route_reason, route_reasons, input_tokens, output_tokens, cost_usd, error, ttft_ms,"
    " fallback_used, created_at, updated_at, served_model"
)
_MARKS = ", ".join("?" * 21)
_MESSAGE_SQL = f"INSERT INTO messages ({_COLUMNS}) VALUES ({_MARKS})"
_STAGE_SQL = f"CREATE TEMP TABLE IF NOT EXISTS import_stage (seq INTEGER PRIMARY KEY, {_COLUMNS})"
_STAGE_INSERT = f"INSERT INTO temp.import_stage ({_COLUMNS}) VALUES ({_MARKS})"
_STAGE_ROWS = 5000
_ATTEMPT_SQL = (
    "INSERT INTO attempts (message_id, provider, model, ok, error, input_tokens, output_tokens, started_at, ended_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _message_row(conv_id: int, m: ImportedMessage) -> tuple[object, ...]:
    if m.role not in ("system", "user", "assistant"):
        raise ValueError(f"role must be system, user or assistant, got {m.role!r}")
    status = m.status if m.status in _STORABLE_STATUSES else "complete"
    route = m.route
    created = _ts(m.created_at)
    return (
        conv_id,
        m.role,
        status,
        _clean(m.text),
        None if m.model is None else m.model.provider,
        None if m.model is None else m.model.model,
        None if route is None else route.choice,
        None if route is None or route.score is None else float(route.score),
        None if route is None or route.threshold is None else float(route.threshold),
        None if route is None else route.policy,
        None if route is None else route.reason,
        None if route is None else json.dumps(list(route.reasons), ensure_ascii=False),
        None if m.usage is None else int(m.usage.input_tokens),
        None if m.usage is None else int(m.usage.output_tokens),
        _money(m.cost_usd),
        error_text(m.error),
        None if m.ttft_ms is None else float(m.ttft_ms),
        int(bool(m.fallback_used)),
        created,
        created if m.updated_at is None else _ts(m.updated_at),
        m.served_model or None,
    )


def _attempt_row(msg_id: int, a: ImportedAttempt) -> tuple[object, ...]:
    return (
        msg_id,
        a.ref.provider,
        a.ref.model,
        int(bool(a.ok)),
        error_text(a.error),
        None if a.usage is None else int(a.usage.input_tokens),
        None if a.usage is None else int(a.usage.output_tokens),
        None if a.started_at is None else _ts(a.started_at),
        None if a.ended_at is None else _ts(a.ended_at),
    )
