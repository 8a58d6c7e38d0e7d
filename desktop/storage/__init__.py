"""SQLite storage (append-only migrations) and keys in the OS keyring."""

from desktop.storage.db import Store, fts_query
from desktop.storage.peek import peek_settings
from desktop.storage.records import (
    ANSWER_STATUSES,
    AttemptRecord,
    ConversationRecord,
    FeedbackRecord,
    LedgerEntry,
    MessageRecord,
    PriceOverride,
    ProviderRecord,
    RouterScore,
    SearchHit,
)
from desktop.storage.secrets import KeyStore

__all__ = [
    "ANSWER_STATUSES",
    "AttemptRecord",
    "ConversationRecord",
    "FeedbackRecord",
    "KeyStore",
    "LedgerEntry",
    "MessageRecord",
    "PriceOverride",
    "ProviderRecord",
    "RouterScore",
    "SearchHit",
    "Store",
    "fts_query",
    "peek_settings",
]
