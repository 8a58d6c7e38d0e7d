"""Slow first-time work (a heavy import, compiling a lexer) in a worker thread, so that a
screen needing it never freezes the window.

The spend chart needs pyqtgraph, whose import takes a quarter of a second on an idle
machine (more on a busy one) and would otherwise run on the UI thread at the click that
opens the chart. ``prefetch`` starts it early (the pointer entering the chart's button),
and ``load_then`` lets the screen appear at once and fill in when the module is there.
``run_then`` does the same for any other once-per-process preparation (a code block's
lexer compiles its rules the first time its language is shown: 30-40 ms for Python).

Only pure-Python work runs in the thread: imports define classes and no QObject is made,
which is what Qt allows off the UI thread. PySide6's own types are made on the UI thread
first (``plotlib.qt_type_steps``): two threads making them at once crash the process.
What the thread raises is logged and left for the UI thread's own call (the import again,
say) to raise where it is handled today.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

__all__ = ["PLOTTING", "is_done", "is_loaded", "load_then", "prefetch", "prefetch_on_hover", "run_then"]

#: the spend chart's plotting library
PLOTTING = "pyqtgraph"

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the UI thread; the worker's signal reaches it queued, on that thread."""

    finished = Signal(str)


_relay: _Relay | None = None
_started: set[str] = set()
_done: set[str] = set()
_waiting: dict[str, list[Callable[[], None]]] = {}


def is_done(key: str) -> bool:
    return key in _done


def _start(key: str, work: Callable[[], object], before: Callable[[], Iterable[None]] | None = None) -> None:
    """Run ``work`` in a worker thread, once per ``key``, after the steps of ``before`` (on
    this thread, one per event-loop turn: what must not happen in the worker). Call from
    the UI thread."""
    global _relay
    if key in _started or key in _done:
        return
    if _relay is None:
        _relay = _Relay()
        _relay.finished.connect(_finished, Qt.ConnectionType.QueuedConnection)
    relay = _relay

    def body() -> None:
        try:
            work()
        except Exception:  # the UI thread's own call raises it where it is handled
            log.debug("background %s failed", key, exc_info=True)
        relay.finished.emit(key)

    _started.add(key)
    steps = iter(before() if before is not None else ())

    def step() -> None:
        for _ in steps:  # one step now, the next on the next turn
            QTimer.singleShot(0, relay, step)
            return
        # Not a daemon: a window closed while pyqtgraph is still importing would otherwise
        # have the interpreter shut down under the import, which crashes in Qt's modules.
        # Python waits for the import (well under a second) before exiting.
        threading.Thread(target=body, name=f"prefetch-{key}", daemon=False).start()

    step()


def run_then(key: str, work: Callable[[], object], callback: Callable[[], None],
             before: Callable[[], Iterable[None]] | None = None) -> None:
    """Run ``callback`` on the UI thread once ``work`` (keyed by ``key``, done once per
    process) has run: now if it has, else from the event loop when the worker is done."""
    if key in _done:
        callback()
        return
    _waiting.setdefault(key, []).append(callback)
    _start(key, work, before)


def _finished(key: str) -> None:
    _done.add(key)
    _started.discard(key)
    for cb in _waiting.pop(key, []):
        cb()


# --- modules ---------------------------------------------------------------------------
def _import_key(name: str) -> str:
    return "import:" + name


def is_loaded(name: str) -> bool:
    """True once module ``name`` is fully imported (``sys.modules`` holds a module from
    the moment its import *starts*, so that alone cannot tell)."""
    key = _import_key(name)
    if key not in _done:
        mod = sys.modules.get(name)
        if mod is not None and not getattr(getattr(mod, "__spec__", None), "_initializing", True):
            _done.add(key)  # imported by someone else, and finished
    return key in _done


def _importing(name: str) -> tuple[Callable[[], object], Callable[[], Iterable[None]] | None]:
    """The worker's import of ``name``, and what the UI thread does first, step by step."""
    if name == PLOTTING:  # without the Qt classes it never uses, and those it uses made here
        from desktop.ui.plotlib import import_pyqtgraph, qt_type_steps  # (two threads making them crash)

        return import_pyqtgraph, qt_type_steps
    return (lambda: importlib.import_module(name)), None


def prefetch(name: str) -> None:
    """Start importing module ``name`` in a worker thread, once. Call from the UI thread."""
    if not is_loaded(name):
        _start(_import_key(name), *_importing(name))


def load_then(name: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` on the UI thread once module ``name`` is imported."""
    is_loaded(name)  # a module imported by someone else counts as done: no thread for it
    work, before = _importing(name)
    run_then(_import_key(name), work, callback, before)


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
