"""Shared by the kill -9 tests of the command line and of the window."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


def checkpointed(db: Path, words: int) -> str | None:
    """The streaming answer's stored text once it holds ``words`` words (all the stream sent
    before it stalled); the window and the CLI checkpoint word by word, so earlier reads may
    hold fewer."""
    text = streaming_text(db)
    return text if text is not None and len(text.split()) >= words else None


def wait_until(condition: Callable[[], T | None], within: float, what: str) -> T:
    """``condition()``'s first true value, re-read until ``within`` seconds have passed.

    For a state only another process's files show (a row it committed): nothing there can
    wake this process, so the real condition is polled, with a deadline that fails the test
    by name."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.01)  # the poll interval, not a guess at how long the other side takes
