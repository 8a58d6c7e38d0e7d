"""Append-only, named schema migrations (the simonw/llm way).

Each migration is a function registered with ``@migration``, in order. The names of
applied migrations are kept in ``_migrations``; opening a database applies the ones
it lacks, each in its own transaction together with its ``_migrations`` row.

NEVER edit or reorder a migration once it has shipped: add a new one at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["MIGRATIONS", "migrate", "applied_migrations"]

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn``; ``@rebuilds`` above it runs it with foreign keys off."""
    name = fn.__name__
    if any(existing == name for existing, _ in MIGRATIONS):
        raise RuntimeError(f"duplicate migration name {name}")
    MIGRATIONS.append((name, fn))
    return fn


def rebuilds(fn: Migration) -> Migration:
    """Mark a migration that rebuilds a table others point at (SQLite can't alter a CHECK).
    It runs with foreign keys off, as SQLite's own recipe says (PRAGMA foreign_keys has no
    effect inside a transaction, so ``migrate`` turns it off around it): dropping the old
    table would otherwise cascade to its children's rows. Before the commit,
    ``PRAGMA foreign_key_check`` must find nothing."""
    fn.rebuilds = True  # type: ignore[attr-defined]
    return fn


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " name TEXT PRIMARY KEY,"
        " applied_at TEXT NOT NULL)"
    )


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    _ensure_table(conn)
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply missing migrations; returns the names applied now. ``conn`` must be in
    autocommit mode (isolation_level=None). Safe when several processes open the
    database at once: each migration runs under BEGIN IMMEDIATE and re-checks."""
    _ensure_table(conn)
    done = set(applied_migrations(conn))
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        rebuild = getattr(fn, "rebuilds", False)
        keys_were = conn.execute("PRAGMA foreign_keys").fetchone()[0] if rebuild else 0
        if keys_were:
            conn.execute("PRAGMA foreign_keys = OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                    conn.execute("COMMIT")
                    continue
                fn(conn)
                if rebuild and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise sqlite3.IntegrityError(f"{name} would leave rows pointing at nothing")
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            if keys_were:
                conn.execute("PRAGMA foreign_keys = ON")
        applied.append(name)
    return applied


def _run(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT our transaction; run statements one by one instead.
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            conn.execute(buffer)
            buffer = ""
    if buffer.strip():
        conn.execute(buffer)


# --- migrations: append only ----------------------------------------------------------


@migration
def m001_providers_settings_prices(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE providers (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            base_url TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            options TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE price_overrides (
            ref TEXT PRIMARY KEY,
            input_per_mtok TEXT NOT NULL,
            output_per_mtok TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
    )


@migration
def m002_conversations_messages(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE INDEX conversations_activity ON conversations (updated_at DESC, id DESC);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            status TEXT NOT NULL
                CHECK (status IN ('streaming', 'complete', 'interrupted', 'stopped', 'error')),
            text TEXT NOT NULL DEFAULT '',
            provider TEXT,
            model TEXT,
            route_choice TEXT,
            route_score REAL,
            route_threshold REAL,
            route_policy TEXT,
            route_reason TEXT,
            route_reasons TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd TEXT,
            error TEXT,
            ttft_ms INTEGER,
            fallback_used INTEGER NOT NULL DEFAULT 0,
            stream_owner TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
        CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            started_at TEXT,
            ended_at TEXT
        );
        CREATE INDEX attempts_message ON attempts (message_id, id)
        """,
    )


@migration
def m003_ledger(conn: sqlite3.Connection) -> None:
    # message_id is SET NULL on purge: spend that happened stays in the ledger.
    _run(
        conn,
        """
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd TEXT,
            price_source TEXT NOT NULL DEFAULT '',
            strong_cost_usd TEXT,
            choice TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX ledger_created ON ledger (created_at);
        CREATE INDEX ledger_message ON ledger (message_id)
        """,
    )


@migration
def m004_router_scores_feedback(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        """
        CREATE TABLE router_scores (
            id INTEGER PRIMARY KEY,
            message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
            score REAL NOT NULL,
            features TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX router_scores_message ON router_scores (message_id);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
            value INTEGER NOT NULL,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX feedback_message ON feedback (message_id)
        """,
    )


@migration
def m005_messages_fts(conn: sqlite3.Connection) -> None:
    # External-content FTS5 index over messages.text. Rows still `streaming` are not
    # indexed, so save_partial() stays one cheap UPDATE; they enter the index when they
    # leave that status (finish_answer, recover_interrupted). One UPDATE trigger with
    # both steps: SQLite runs separate triggers in an unspecified order, and inserting
    # the new text before deleting the old one corrupts an external-content index.
    _run(
        conn,
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            text,
            content = 'messages',
            content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages
        WHEN new.status != 'streaming' BEGIN
            INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages
        WHEN old.status != 'streaming' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER messages_fts_au AFTER UPDATE OF text, status ON messages
        WHEN old.status != 'streaming' OR new.status != 'streaming' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text)
                SELECT 'delete', old.id, old.text WHERE old.status != 'streaming';
            INSERT INTO messages_fts (rowid, text)
                SELECT new.id, new.text WHERE new.status != 'streaming';
        END;
        INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages WHERE status != 'streaming'
        """,
    )


@migration
def m006_providers_drop_enabled(conn: sqlite3.Connection) -> None:
    # Nothing ever read `enabled`: a provider switched off there still answered. The
    # column goes; every provider row stays, and `options` (the provider's timeout)
    # stays with it. The table is rebuilt rather than altered with DROP COLUMN, which
    # needs SQLite 3.35.
    _run(
        conn,
        """
        CREATE TABLE providers_m006 (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            base_url TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        INSERT INTO providers_m006 (name, kind, base_url, options, created_at, updated_at)
            SELECT name, kind, base_url, options, created_at, updated_at FROM providers;
        DROP TABLE providers;
        ALTER TABLE providers_m006 RENAME TO providers
        """,
    )


@migration
def m007_conversation_sources(conn: sqlite3.Connection) -> None:
    # Where an imported conversation came from (ChatGPT, Open WebUI, another RouteDesk)
    # and its id there: importing the same export twice finds it and adds nothing.
    _run(
        conn,
        """
        CREATE TABLE conversation_sources (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            imported_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX conversation_sources_key ON conversation_sources (source, source_id)
        """,
    )


@migration
def m008_endpoint_clients(conn: sqlite3.Connection) -> None:
    # The local endpoint's clients (one per tool): only a hash of each token is kept.
    # A removed client keeps its row (revoked_at) so its spend stays attributed; its name
    # is free again. endpoint_spend ties a ledger row to the client that caused it.
    _run(
        conn,
        """
        CREATE TABLE endpoint_clients (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            budget_usd TEXT,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE UNIQUE INDEX endpoint_clients_name ON endpoint_clients (name) WHERE revoked_at IS NULL;
        CREATE TABLE endpoint_spend (
            ledger_id INTEGER PRIMARY KEY REFERENCES ledger (id) ON DELETE CASCADE,
            client_id INTEGER NOT NULL REFERENCES endpoint_clients (id),
            estimated INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX endpoint_spend_client ON endpoint_spend (client_id)
        """,
    )


@migration
@rebuilds
def m009_truncated_served_model(conn: sqlite3.Connection) -> None:
    # An answer cut at its length limit is kept as `truncated` (the messages CHECK didn't
    # allow it, and SQLite can't alter a CHECK: the table is rebuilt with every row and id,
    # its indexes and the FTS triggers, which DROP TABLE takes with it). `served_model` is
    # the model the provider says answered when it names another (a proxy's fallback), on
    # the message and its ledger row; `provider_cost_usd` is the cost the provider
    # reported (OpenRouter, LiteLLM), kept beside the computed one for reconciliation.
    _run(
        conn,
        """
        CREATE TABLE messages_m009 (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            status TEXT NOT NULL
                CHECK (status IN ('streaming', 'complete', 'truncated', 'interrupted', 'stopped', 'error')),
            text TEXT NOT NULL DEFAULT '',
            provider TEXT,
            model TEXT,
            route_choice TEXT,
            route_score REAL,
            route_threshold REAL,
            route_policy TEXT,
            route_reason TEXT,
            route_reasons TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd TEXT,
            error TEXT,
            ttft_ms INTEGER,
            fallback_used INTEGER NOT NULL DEFAULT 0,
            stream_owner TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            served_model TEXT
        );
        INSERT INTO messages_m009 (id, conversation_id, role, status, text, provider, model, route_choice,
                route_score, route_threshold, route_policy, route_reason, route_reasons, input_tokens,
                output_tokens, cost_usd, error, ttft_ms, fallback_used, stream_owner, created_at, updated_at)
            SELECT id, conversation_id, role, status, text, provider, model, route_choice, route_score,
                route_threshold, route_policy, route_reason, route_reasons, input_tokens, output_tokens,
                cost_usd, error, ttft_ms, fallback_used, stream_owner, created_at, updated_at FROM messages;
        DROP TABLE messages;
        ALTER TABLE messages_m009 RENAME TO messages;
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
        CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
        CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages
        WHEN new.status != 'streaming' BEGIN
            INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages
        WHEN old.status != 'streaming' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER messages_fts_au AFTER UPDATE OF text, status ON messages
        WHEN old.status != 'streaming' OR new.status != 'streaming' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text)
                SELECT 'delete', old.id, old.text WHERE old.status != 'streaming';
            INSERT INTO messages_fts (rowid, text)
                SELECT new.id, new.text WHERE new.status != 'streaming';
        END;
        ALTER TABLE ledger ADD COLUMN served_model TEXT;
        ALTER TABLE ledger ADD COLUMN provider_cost_usd TEXT
        """,
    )
