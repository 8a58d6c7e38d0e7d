"""Keys held in memory, for the benchmarks and the screenshot tool only.

They run on a developer's own desktop, whose keyring must not fill with test keys, and
they measure the engine and the window, not the keyring. The test suite never uses this:
it stores keys in the real OS keyring (scripts/with-keyring.sh).
"""

from __future__ import annotations

__all__ = ["MemoryKeyStore"]


class MemoryKeyStore:
    """``desktop.storage.KeyStore``'s interface over a dict."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys: dict[str, str] = dict(keys or {})

    def set(self, name: str, key: str) -> None:
        self.keys[name] = key

    def get(self, name: str) -> str | None:
        return self.keys.get(name)

    def delete(self, name: str) -> bool:
        return self.keys.pop(name, None) is not None

    def check(self) -> str:
        return "in memory (benchmarks only)"
