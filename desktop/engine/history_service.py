"""Import and export as the window calls them: on a worker thread, each with its own
connection to the engine's database, so the import's one long transaction never shares
the connection the chat is writing answers through. The command line calls
``import_history`` and ``export_to_file`` on a store of its own, the same functions."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from desktop.engine.history_export import export_to_file
from desktop.engine.history_import import ImportProgress, ImportSummary, import_history
from desktop.storage import Store

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["HistoryService"]


class HistoryService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[ImportProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ImportSummary:
        """Blocking: call it from a worker thread. Raises ImportRefused / ImportCancelled."""
        with Store(self._e.store.path) as store:
            return import_history(store, path, progress=progress, should_stop=should_stop)

    def export_file(self, ids: Sequence[int] | None, path: str | os.PathLike[str], *, format: str) -> int:
        """Blocking: call it from a worker thread. Returns the number of conversations."""
        with Store(self._e.store.path) as store:
            return export_to_file(store, ids, path, format=format)
