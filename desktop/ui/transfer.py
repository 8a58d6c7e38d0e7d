"""File → Import history / Export, and Export in a conversation's menu.

Only presentation lives here: the work is ``desktop.engine.history_import`` and
``history_export``. An import runs on a worker thread with its own connection to the
same database (SQLite connections stay on their thread), so the window keeps painting;
its progress callback is handed to the Qt thread through the event loop, drives a
QProgressDialog (whose Cancel undoes everything), and ends in a summary box.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog

__all__ = ["HistoryTransfer", "install_transfer"]

log = logging.getLogger(__name__)

IMPORT_FILTER = "Chat exports (*.zip *.json);;All files (*)"
EXPORT_FILTERS = {"Markdown (*.md)": "markdown", "RouteDesk JSON (*.json)": "json"}
_STEPS = 1000


class HistoryTransfer(QObject):
    """Owns the import/export actions of one main window."""

    import_finished = Signal(object)  # ImportSummary, or None when refused or cancelled
    export_finished = Signal(object)  # (count, path), or None
    progressed = Signal(int)  # the progress dialog's value, 0..1000

    def __init__(self, window: Any, controller: Any) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller
        self.progress: QProgressDialog | None = None
        self.message: QMessageBox | None = None  # the last summary or error shown
        self._cancel = threading.Event()
        self._busy = False

        self.import_action = QAction("Import history…", window)
        self.import_action.setShortcut(QKeySequence("Ctrl+Shift+I"))
        self.import_action.setToolTip("Import conversations from ChatGPT, Open WebUI or a RouteDesk export")
        self.import_action.triggered.connect(lambda *_: self.choose_import())
        self.export_action = QAction("Export conversation…", window)
        self.export_action.setToolTip("Save this conversation as Markdown or RouteDesk JSON")
        self.export_action.triggered.connect(lambda *_: self.choose_export(self._current()))
        self.export_all_action = QAction("Export all conversations…", window)
        self.export_all_action.triggered.connect(lambda *_: self.choose_export(None))

    # --- wiring ---------------------------------------------------------------------------

    def install(self) -> None:
        menu = self.window.menuBar().addMenu("&File")
        menu.addAction(self.import_action)
        menu.addSeparator()
        menu.addAction(self.export_action)
        menu.addAction(self.export_all_action)
        menu.addSeparator()
        menu.addAction(self.window.quit_action)
        self.file_menu = menu
        self._extend_conversation_menu()

    def _extend_conversation_menu(self) -> None:
        """The sidebar's right-click menu, with Export after Rename and Delete."""
        sidebar = self.window.sidebar
        self.conversation_export_action = QAction("Export…", sidebar)
        self.conversation_export_action.triggered.connect(lambda *_: self.choose_export(self._current()))
        sidebar.add_menu_action(self.conversation_export_action)

    def _current(self) -> list[int] | None:
        cid = self.window.sidebar.current_id()
        return None if cid is None else [cid]

    # --- import ---------------------------------------------------------------------------

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import history", str(Path.home()), IMPORT_FILTER)
        if path:
            self.start_import(path)

    def start_import(self, path: str | Path) -> bool:
        """Import ``path`` in the background; False if an import is already running."""
        if self._busy:
            return False
        self._busy = True
        self._cancel.clear()
        self.import_action.setEnabled(False)
        dlg = QProgressDialog(f"Importing {Path(path).name}…", "Cancel", 0, _STEPS, self.window)
        dlg.setWindowTitle("Import history")
        # not modal: a modal QProgressDialog runs processEvents() inside setValue()
        dlg.setWindowModality(Qt.WindowModality.NonModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.canceled.connect(self._cancel.set)
        dlg.setValue(0)
        dlg.show()
        self.progress = dlg
        self.controller.spawn(self._run_import(Path(path)))
        return True

    async def _run_import(self, path: Path) -> None:
        from desktop.engine.history_import import ImportCancelled

        loop = asyncio.get_running_loop()

        def on_progress(p: Any) -> None:  # on the worker thread
            loop.call_soon_threadsafe(self._show_progress, p)

        def work() -> Any:
            return self.controller.engine.history.import_file(path, progress=on_progress,
                                                              should_stop=self._cancel.is_set)

        summary = None
        try:
            summary = await asyncio.to_thread(work)
        except ImportCancelled:
            self._show("Import cancelled", "The import was stopped. Nothing was imported.",
                       QMessageBox.Icon.Information)
        except Exception as exc:  # ImportRefused and friends: a sentence and a fix
            message, fix = _words(exc)
            self._show("Import failed", f"{message}\n\n{fix}".strip(), QMessageBox.Icon.Warning)
        else:
            self.controller.refresh_conversations()
            self._show("Import finished", "\n".join(summary.lines()), QMessageBox.Icon.Information)
        finally:
            self._busy = False
            self.import_action.setEnabled(True)
            if self.progress is not None:
                self.progress.hide()
                self.progress.deleteLater()
                self.progress = None
        self.import_finished.emit(summary)

    def _show_progress(self, p: Any) -> None:
        dlg = self.progress
        if dlg is None:
            return
        value = int(p.fraction * _STEPS)
        dlg.setValue(value)
        dlg.setLabelText(f"Importing… {p.conversations:,} conversations, {p.messages:,} messages")
        self.progressed.emit(value)

    def _show(self, title: str, text: str, icon: QMessageBox.Icon) -> None:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.window)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # not exec(): no nested event loop
        self.message = box

    # --- export ---------------------------------------------------------------------------

    def choose_export(self, ids: Sequence[int] | None) -> None:
        name = "routedesk-conversations" if ids is None else f"conversation-{ids[0]}"
        start = str(Path.home() / f"{name}.md")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export", start, ";;".join(EXPORT_FILTERS))
        if not path:
            return
        fmt = "json" if path.lower().endswith(".json") else EXPORT_FILTERS.get(chosen, "markdown")
        self.start_export(ids, path, fmt)

    def start_export(self, ids: Sequence[int] | None, path: str | Path, fmt: str = "markdown") -> None:
        self.controller.spawn(self._run_export(None if ids is None else list(ids), Path(path), fmt))

    async def _run_export(self, ids: list[int] | None, path: Path, fmt: str) -> None:
        def work() -> int:
            return self.controller.engine.history.export_file(ids, path, format=fmt)

        result = None
        try:
            n = await asyncio.to_thread(work)
        except Exception as exc:
            message, fix = _words(exc)
            self._show("Export failed", f"{message}\n\n{fix}".strip(), QMessageBox.Icon.Warning)
        else:
            result = (n, path)
            self.controller.notice.emit(f"Exported {n:,} conversation{'' if n == 1 else 's'} to {path}.")
        self.export_finished.emit(result)


def _words(exc: BaseException) -> tuple[str, str]:
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message, str(getattr(exc, "fix", "") or "")
    log.warning("history transfer failed", exc_info=exc)
    return f"RouteDesk hit an unexpected problem ({type(exc).__name__}).", "Try again; if it keeps failing, report it."


def install_transfer(window: Any, controller: Any) -> HistoryTransfer:
    """The hook ``MainWindow.attach`` calls: File menu and conversation-menu Export."""
    transfer = HistoryTransfer(window, controller)
    transfer.install()
    return transfer
