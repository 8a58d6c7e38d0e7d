"""SQLite storage (append-only migrations) and keys in the OS keyring."""

from desktop.storage.clients import ClientRecord, ClientSpend, ClientStore
from desktop.storage.db import Store, fts_query
from desktop.storage.imports import (
    ImportedAttempt,
    ImportedConversation,
    ImportedMessage,
    ImportWriter,
    conversation_source,
)
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
    "ClientRecord",
    "ClientSpend",
    "ClientStore",
    "ConversationRecord",
    "FeedbackRecord",
    "ImportWriter",
    "ImportedAttempt",
    "ImportedConversation",
    "ImportedMessage",
    "KeyStore",
    "LedgerEntry",
    "MessageRecord",
    "PriceOverride",
    "ProviderRecord",
    "RouterScore",
    "SearchHit",
    "Store",
    "conversation_source",
    "fts_query",
    "peek_settings",
]
