"""Read a few settings straight from the database file, read-only, before anything else
loads (the window's frame needs its saved size in the first few milliseconds, long
before the engine and the Store are imported). A missing, locked or unreadable file
gives {}: the Store reports real problems when it opens."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["peek_settings"]

log = logging.getLogger(__name__)


def peek_settings(db_path: str | os.PathLike[str], keys: Sequence[str]) -> dict[str, Any]:
    """The JSON values stored under ``keys`` (those present), without writing anything."""
    try:
        if not keys or not os.path.exists(db_path):
            return {}
        conn = sqlite3.connect(f"file:{os.fspath(db_path)}?mode=ro", uri=True, timeout=0.2)
        try:
            marks = ",".join("?" * len(keys))
            rows = conn.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})", tuple(keys)).fetchall()
        finally:
            conn.close()
        return {str(k): json.loads(v) for k, v in rows}
    except (sqlite3.Error, OSError, ValueError) as exc:
        log.info("could not read settings early: %s", exc)
        return {}
