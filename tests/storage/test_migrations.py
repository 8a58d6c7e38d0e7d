"""Migrations are named, applied once, in order, and append-only."""

from __future__ import annotations

import hashlib
import inspect
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.storage import Store
from desktop.storage.migrations import MIGRATIONS, migrate

# Every migration that has shipped, with a fingerprint of its source. A migration is
# never edited once shipped: add a new one at the end (and a line here).
SHIPPED = [
    ("m001_providers_settings_prices", "7571862417b645ec"),
    ("m002_conversations_messages", "dd83f14e4fa5eb10"),
    ("m003_ledger", "ddd580ef3f0f9f48"),
    ("m004_router_scores_feedback", "b3a71de3505f45ec"),
    ("m005_messages_fts", "01dc856e20c599b1"),
    ("m006_providers_drop_enabled", "b6d6c9d9a08e3f66"),
    ("m007_conversation_sources", "05966e830ff884df"),
    ("m008_endpoint_clients", "93ccad7eb3aa0d45"),
    ("m009_truncated_served_model", "09ee17e532f6f7e9"),
]


def test_shipped_migrations_are_unchanged_and_first():
    names = [name for name, _ in MIGRATIONS]
    assert names[: len(SHIPPED)] == [name for name, _ in SHIPPED], "migrations are append-only"
    for (name, fn), (_, fingerprint) in zip(MIGRATIONS, SHIPPED, strict=False):
        digest = hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
        assert digest == fingerprint, f"shipped migration {name} was edited; add a new one instead"
    assert len(set(names)) == len(names)


def test_fresh_database_records_every_migration_once(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with Store(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    with Store(path) as s:  # re-open: nothing applied twice
        assert s.migrations() == [name for name, _ in MIGRATIONS]
        rows = s.conn.execute("SELECT name, count(*) FROM _migrations GROUP BY name").fetchall()
        assert all(count == 1 for _, count in rows)
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_migrate_is_idempotent(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    assert migrate(conn) == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []
    conn.close()


def test_old_database_is_upgraded_and_keeps_its_data(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in MIGRATIONS[:2]:  # a database from an older release
        fn(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
    conn.execute(
        "INSERT INTO conversations (title, created_at, updated_at)"
        " VALUES ('old', '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z')"
    )
    conn.execute(
        "INSERT INTO messages (conversation_id, role, status, text, created_at, updated_at)"
        " VALUES (1, 'user', 'complete', 'legacy needle text', '2025-01-01T00:00:00.000000Z',"
        " '2025-01-01T00:00:00.000000Z')"
    )
    conn.close()
    with Store(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
        assert [c.title for c in s.list_conversations()] == ["old"]
        s.add_user_message(1, "fresh needle text")  # older rows were indexed by the migration
        assert sorted(h.message_id for h in s.search("needle")) == [1, 2]


def test_providers_survive_losing_their_unused_column(tmp_path: Path):
    """A database from before m006 (providers with ``enabled``) keeps every provider,
    switched off or not, with its kind, address, options (the timeout) and dates."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    done = [name for name, _ in MIGRATIONS].index("m006_providers_drop_enabled")
    assert migrate_until(conn, done) == [name for name, _ in MIGRATIONS[:done]]
    rows = [
        ("work", "openai", "https://proxy.example/v1", 1, '{"timeout": 5}', "2025-01-01T00:00:00.000000Z",
         "2025-02-01T00:00:00.000000Z"),
        ("home", "ollama", None, 0, "{}", "2025-03-01T00:00:00.000000Z", "2025-03-01T00:00:00.000000Z"),
    ]
    conn.executemany("INSERT INTO providers VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    with Store(path) as s:
        assert "m006_providers_drop_enabled" in s.migrations()
        got = {p.name: (p.kind, p.base_url, p.options, p.created_at.isoformat(), p.updated_at.isoformat())
               for p in s.list_providers()}
        assert got == {
            "work": ("openai", "https://proxy.example/v1", {"timeout": 5}, "2025-01-01T00:00:00+00:00",
                     "2025-02-01T00:00:00+00:00"),
            "home": ("ollama", None, {}, "2025-03-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00"),
        }
        columns = [r[1] for r in s.conn.execute("PRAGMA table_info(providers)")]
        assert "enabled" not in columns and "options" in columns
        s.add_provider("third", "anthropic", None)  # the rebuilt table still refuses a duplicate name
        with pytest.raises(ValueError, match="already exists"):
            s.add_provider("work", "openai", None)


def migrate_until(conn: sqlite3.Connection, count: int) -> list[str]:
    """Bring ``conn`` to an older release's schema: the first ``count`` migrations only."""
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    names = []
    for name, fn in MIGRATIONS[:count]:
        fn(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
        names.append(name)
    return names


def test_concurrent_first_open_from_several_processes(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    code = (
        "import sys; from desktop.storage import Store; "
        "s = Store(sys.argv[1]); s.set_setting('p' + sys.argv[2], 1); s.close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(i)], cwd=Path(__file__).parents[2])
        for i in range(4)
    ]
    assert [p.wait(timeout=30) for p in procs] == [0, 0, 0, 0]
    with Store(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
        assert sorted(s.settings()) == ["p0", "p1", "p2", "p3"]


def test_rebuilt_messages_keep_every_row_attempt_ledger_link_and_search(tmp_path: Path):
    """m009 rebuilds ``messages`` (its CHECK gains ``truncated``). A database from before it
    keeps every message with its id, the attempts, ledger rows, scores and feedback that
    point at them (none cascaded away), the search index, and the triggers keep working."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    done = [name for name, _ in MIGRATIONS].index("m009_truncated_served_model")
    migrate_until(conn, done)
    t = "2025-01-01T00:00:00.000000Z"
    conn.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('old', ?, ?)", (t, t))
    for i, (role, status, text) in enumerate([("user", "complete", "ancient needle question"),
                                              ("assistant", "interrupted", "half an answer about the needle"),
                                              ("assistant", "streaming", "not indexed yet")], start=5):
        conn.execute("INSERT INTO messages (id, conversation_id, role, status, text, created_at, updated_at)"
                     " VALUES (?, 1, ?, ?, ?, ?, ?)", (i, role, status, text, t, t))
    conn.execute("INSERT INTO attempts (message_id, provider, model, ok) VALUES (6, 'work', 'gpt-4o', 0)")
    conn.execute("INSERT INTO ledger (message_id, provider, model, cost_usd, created_at)"
                 " VALUES (6, 'work', 'gpt-4o', '0.001', ?)", (t,))
    conn.execute("INSERT INTO router_scores (message_id, score, created_at) VALUES (6, 0.4, ?)", (t,))
    conn.execute("INSERT INTO feedback (message_id, value, kind, created_at) VALUES (6, 1, 'thumb', ?)", (t,))
    conn.close()
    with Store(path) as s:
        assert s.migrations()[-1] == "m009_truncated_served_model"
        c = s.conn
        assert [tuple(r) for r in c.execute("SELECT id, status, text FROM messages ORDER BY id")] == [
            (5, "complete", "ancient needle question"), (6, "interrupted", "half an answer about the needle"),
            (7, "streaming", "not indexed yet")]
        assert c.execute("SELECT message_id FROM attempts").fetchall()[0][0] == 6
        assert [tuple(r) for r in c.execute("SELECT message_id, cost_usd, served_model, provider_cost_usd"
                                            " FROM ledger")] == [(6, "0.001", None, None)]
        assert c.execute("SELECT message_id FROM router_scores").fetchone()[0] == 6
        assert c.execute("SELECT message_id FROM feedback").fetchone()[0] == 6
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on after the rebuild
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'messages'"
                                        " AND type IN ('index', 'trigger')")} >= {
            "messages_conversation", "messages_streaming", "messages_fts_ai", "messages_fts_ad", "messages_fts_au"}
        c.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        assert sorted(h.message_id for h in s.search("needle")) == [5, 6]
        # the new status is allowed, the streaming row enters the index when it ends
        s.finish_answer(7, text="a cut answer about the needle", status="truncated", served_model="gpt-4o-mini")
        assert sorted(h.message_id for h in s.search("needle")) == [5, 6, 7]
        assert s.conn.execute("SELECT status, served_model FROM messages WHERE id = 7").fetchone()[:] == (
            "truncated", "gpt-4o-mini")
        with pytest.raises(sqlite3.IntegrityError):
            c.execute("UPDATE messages SET status = 'bogus' WHERE id = 5")
        c.execute("DELETE FROM messages WHERE id = 6")  # the rebuilt table's children still follow it
        assert c.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
        assert c.execute("SELECT message_id FROM ledger").fetchone()[0] is None
