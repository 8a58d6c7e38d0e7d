"""The connection core every part of the store shares: opening the database (WAL,
migrations), transactions, the clock.

Durability model: WAL journal, ``synchronous=NORMAL``, every write commits at once
(autocommit; multi-statement writes use ``BEGIN IMMEDIATE``), so a process killed at
any moment leaves a database that opens without repair and holds every committed row.
Several processes (the window and the CLI) may open the same file; ``busy_timeout``
makes writers wait for each other. One ``Store`` is used from one thread at a time.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from desktop.storage.columns import time_text, utcnow
from desktop.storage.migrations import applied_migrations, migrate

__all__ = ["BUSY_TIMEOUT_MS", "StoreCore"]

BUSY_TIMEOUT_MS = 10_000


class StoreCore:
    """What every part of ``Store`` stands on: the open connection (one per Store, used
    from one thread at a time), its transactions and the clock that stamps rows."""

    def __init__(self, path: str | os.PathLike[str], *, now: Callable[[], datetime] | None = None) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._now = now or utcnow
        # Identifies this Store's own streaming rows, so that another process (or a later
        # Store in this one) can tell a live stream from one left behind by a crash.
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal" and str(self.path) != ":memory:":
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @classmethod
    def default(cls) -> Self:
        from desktop.core.paths import database_path

        return cls(database_path())

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("this Store is closed")
        return self._conn

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        return applied_migrations(self.conn)

    def _x(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _tx(self) -> _Transaction:
        return _Transaction(self.conn)

    def _stamp(self) -> str:
        return time_text(self._now())


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error). Not re-entrant."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
