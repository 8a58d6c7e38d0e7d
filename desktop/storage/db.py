"""The SQLite store: one ``Store`` object over one database file.

``Store`` is composed of one part per kind of data, each in its own module:
``connection`` (opening, WAL, migrations, transactions; its docstring has the
durability model), ``config`` (providers, settings, price overrides),
``conversations`` (conversations, messages, attempts), ``spend`` (the ledger),
``feedback`` (router scores, feedback) and ``search`` (full-text search).
``columns`` says how values are stored (Decimal money, UTC text times, redacted errors).
"""

from __future__ import annotations

from desktop.storage.config import ConfigStore
from desktop.storage.connection import BUSY_TIMEOUT_MS
from desktop.storage.conversations import ConversationStore
from desktop.storage.feedback import FeedbackStore
from desktop.storage.search import SearchStore, fts_query
from desktop.storage.spend import SpendStore

__all__ = ["Store", "fts_query", "BUSY_TIMEOUT_MS"]


class Store(ConversationStore, SearchStore, SpendStore, FeedbackStore, ConfigStore):
    """One SQLite database. Open with ``Store(path)`` (``":memory:"`` works for tests)
    or ``Store.default()`` for the user's data folder. Close with ``close()`` or use it
    as a context manager."""
