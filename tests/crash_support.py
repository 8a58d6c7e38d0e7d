"""Shared by the kill -9 tests of the command line and of the window."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def streaming_text(db: Path) -> str | None:
    """The partial text of the streaming answer, read as another process would."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        row = conn.execute("SELECT text FROM messages WHERE role = 'assistant' AND status = 'streaming'"
                           " ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else row[0]
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
