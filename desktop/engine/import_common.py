"""What the format readers share: how they say a conversation can't be read, how
they count what they left out, and lenient readers for the fields real exports get
wrong (times as numbers or text, in seconds or milliseconds, or missing)."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from desktop.storage import ImportedConversation, ImportedMessage

__all__ = [
    "Unreadable", "Notes", "as_dict", "when", "text_of", "stable_id", "branch", "join_parts", "conversation",
]

# Times before 2000 or after 2100 are not a chat's: read as "unknown".
_EARLIEST = 946_684_800.0
_LATEST = 4_102_444_800.0


class Unreadable(ValueError):
    """This conversation can't be imported; the message says why, in plain words."""


class Notes:
    """Messages left out of the conversations being read, by reason (for the summary)."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n


def when(value: Any) -> datetime | None:
    """A timestamp from an export: epoch seconds or milliseconds (number or digits),
    or ISO 8601 text. None when missing or not believable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC) if 2000 <= parsed.year < 2100 else None
        value = number
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    seconds = float(value)
    if seconds > _LATEST * 100:  # milliseconds (Open WebUI's chat.timestamp)
        seconds /= 1000.0
    if not _EARLIEST <= seconds < _LATEST:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def stable_id(*parts: Any) -> str:
    """An id for a conversation its export gave none: the same content, the same id."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return "sha1:" + hashlib.sha1(blob.encode("utf-8", "surrogatepass")).hexdigest()


def branch(
    nodes: Mapping[str, Any], leaf: Any, *, parent_key: str, children_key: str, time_of: Any
) -> list[str]:
    """The ids from the root to ``leaf``: the branch the user last saw. Without a usable
    ``leaf`` (missing, or not in the tree), the newest leaf's branch. A parent cycle
    (a damaged file) ends the walk instead of looping."""
    if not isinstance(leaf, str) or leaf not in nodes:
        leaves = [k for k, n in nodes.items() if isinstance(n, dict) and not _live_children(n, nodes, children_key)]
        if not leaves:
            leaves = list(nodes)
        if not leaves:
            return []
        leaf = max(leaves, key=lambda k: (time_of(nodes[k]) or 0.0, k))
    path: list[str] = []
    seen: set[str] = set()
    node_id: Any = leaf
    while isinstance(node_id, str) and node_id in nodes and node_id not in seen:
        seen.add(node_id)
        path.append(node_id)
        node = nodes[node_id]
        node_id = node.get(parent_key) if isinstance(node, dict) else None
    path.reverse()
    return path


def _live_children(node: Mapping[str, Any], nodes: Mapping[str, Any], key: str) -> list[str]:
    children = node.get(key)
    if not isinstance(children, list):
        return []
    return [c for c in children if isinstance(c, str) and c in nodes]


def join_parts(parts: Iterable[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def conversation(source: str, source_id: str, title: str, started: datetime | None, updated: datetime | None,
                 messages: list[ImportedMessage]) -> ImportedConversation:
    """The conversation an export's branch makes: refused when only a system prompt is
    left; its dates default to its messages' and never run backwards."""
    if not any(m.role != "system" for m in messages):
        raise Unreadable("it has no messages with text")
    created_at = started or messages[0].created_at
    updated_at = updated or max(m.created_at for m in messages)
    return ImportedConversation(
        source=source,
        source_id=source_id,
        title=title,
        created_at=created_at,
        updated_at=max(updated_at, created_at),
        messages=tuple(messages),
    )
