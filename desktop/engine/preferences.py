"""The window's own preferences (``ui.*`` settings: the last conversation, whether the
welcome was dismissed, the layout). Kept in the same settings table as everything else,
behind this small service so the window never touches the store."""

from __future__ import annotations

from typing import Any

from desktop.storage import Store

__all__ = ["Preferences", "PREFIX"]

PREFIX = "ui."


class Preferences:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: str, default: Any = None) -> Any:
        _check(key)
        return self._store.get_setting(key, default)

    def set(self, key: str, value: Any) -> None:
        _check(key)
        self._store.set_setting(key, value)


def _check(key: str) -> None:
    if not key.startswith(PREFIX):
        raise ValueError(f"{key!r} is not a window preference (they start with {PREFIX!r})")
