"""Heavy imports in a worker thread, so that a screen needing one never freezes the window.

The spend chart needs pyqtgraph, whose import takes a quarter of a second on an idle
machine (more on a busy one) and would otherwise run on the UI thread at the click that
opens the chart. ``prefetch`` starts it early (the pointer entering the chart's button),
and ``load_then`` lets the screen appear at once and fill in when the module is there.

Only the import runs in the thread: it defines classes and no QObject is made, which is
what Qt allows off the UI thread. Whatever the thread finds (an ImportError in a broken
install) is left for the UI thread's own ``import`` to raise where it is handled today.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

__all__ = ["PLOTTING", "is_loaded", "load_then", "prefetch", "prefetch_on_hover"]

#: the spend chart's plotting library
PLOTTING = "pyqtgraph"

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the UI thread; the worker's signal reaches it queued, on that thread."""

    finished = Signal(str)


_relay: _Relay | None = None
_started: dict[str, threading.Thread] = {}
_done: set[str] = set()
_waiting: dict[str, list[Callable[[], None]]] = {}


def is_loaded(name: str) -> bool:
    """True once ``name`` is fully imported (``sys.modules`` holds a module from the moment
    its import *starts*, so that alone cannot tell)."""
    if name not in _done:
        mod = sys.modules.get(name)
        if mod is not None and not getattr(getattr(mod, "__spec__", None), "_initializing", True):
            _done.add(name)  # imported by someone else, and finished
    return name in _done


def prefetch(name: str) -> None:
    """Start importing ``name`` in a worker thread, once. Call from the UI thread."""
    global _relay
    if name in _started or is_loaded(name):
        return
    if _relay is None:
        _relay = _Relay()
        _relay.finished.connect(_finished, Qt.ConnectionType.QueuedConnection)
    relay = _relay

    def work() -> None:
        try:
            importlib.import_module(name)
        except Exception:  # the UI thread's own import raises it where it is handled
            log.debug("prefetching %s failed", name, exc_info=True)
        relay.finished.emit(name)

    t = threading.Thread(target=work, name=f"prefetch-{name}", daemon=True)
    _started[name] = t
    t.start()


def load_then(name: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` on the UI thread once ``name`` is imported: now if it already is,
    else from the event loop when the worker is done (starting it if need be)."""
    if is_loaded(name):
        callback()
        return
    _waiting.setdefault(name, []).append(callback)
    prefetch(name)


def _finished(name: str) -> None:
    _done.add(name)
    _started.pop(name, None)
    for cb in _waiting.pop(name, []):
        cb()


class _OnEnter(QObject):
    def __init__(self, widget: QWidget, name: str) -> None:
        super().__init__(widget)
        self._name = name
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Enter:
            prefetch(self._name)
        return False


def prefetch_on_hover(widget: QWidget | None, name: str) -> None:
    """Start importing ``name`` when the pointer enters ``widget``: between the pointer
    reaching a button and the click there is usually a few hundred milliseconds, about
    what the import takes."""
    if widget is not None:
        _OnEnter(widget, name)
