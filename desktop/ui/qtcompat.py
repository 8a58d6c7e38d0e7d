"""Work-arounds for defects in the Qt binding that RouteDesk cannot avoid otherwise.

The PySide6 6.12.0 build this project runs on returns two singletons without taking a
reference to them: ``SignalInstance.emit()`` returns ``True``, and every method that
returns nothing (``setText``, ``update``, ``deleteLater``, ...) or a null pointer
returns ``None``. Each such call drops that object's reference count by one; on
Python < 3.12, where ``None``/``True``/``False`` are not immortal, a long streamed
answer, a busy chart or a few hours of use reach zero and the process aborts with
"Fatal Python error: bool_dealloc" (or "none_dealloc").

``guard_singleton_refcounts()`` detects each defect at run time (it makes a few calls
on a private object and watches the counts) and, only when one is found, gives the
affected singletons a reserve of references no session can use up. A binding without
the defect is left alone, and Python 3.12+ needs nothing (the singletons are immortal).
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["binding_leaks", "guard_singleton_refcounts", "guard_bool_refcounts"]

_RESERVE = 1 << 40  # calls before a count could reach zero again
_guarded: set[str] = set()


def binding_leaks() -> dict[str, bool]:
    """Which singletons the Qt binding drops references to: {"True": ..., "None": ...}."""
    if sys.version_info >= (3, 12):  # immortal singletons
        return {"True": False, "None": False}
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    n = 16
    before_true = sys.getrefcount(True)
    for _ in range(n):
        probe.ping.emit()
    after_true = sys.getrefcount(True)
    before_none = sys.getrefcount(None)
    for _ in range(n):
        probe.setObjectName("probe")
    after_none = sys.getrefcount(None)
    return {"True": before_true - after_true >= n, "None": before_none - after_none >= n}


def _reserve(obj) -> None:
    # CPython object header: the reference count is the first field.
    ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE


def guard_singleton_refcounts() -> set[str]:
    """Add the reserve where the binding leaks (once per process); returns what is guarded."""
    if not _guarded:
        leaks = binding_leaks()
        if leaks["True"]:
            _reserve(True)
            _reserve(False)
            _guarded.update({"True", "False"})
        if leaks["None"]:
            _reserve(None)
            _guarded.add("None")
        _guarded.add("checked")
    return _guarded - {"checked"}


def guard_bool_refcounts() -> bool:
    """Kept for callers of the first version: guards every affected singleton."""
    return bool(guard_singleton_refcounts())
