"""Work-arounds for defects in the Qt binding that RouteDesk cannot avoid otherwise.

PySide6 6.12.0: ``SignalInstance.emit()`` returns ``True`` without taking a reference
to it, so every emit from Python (ours, and pyqtgraph's many) drops ``True``'s
reference count by one. On Python < 3.12, where ``True`` is not immortal, a long
streamed answer or a busy chart reaches zero and the process aborts with "Fatal
Python error: bool_dealloc". ``guard_bool_refcounts()`` detects the defect at run
time (it emits a private signal a few times and watches the count) and, only then,
gives ``True`` and ``False`` a reserve of references no session can use up.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["emit_leaks_true", "guard_bool_refcounts"]

_RESERVE = 1 << 40  # emits before the count could reach zero again
_guarded = False


def emit_leaks_true() -> bool:
    if sys.version_info >= (3, 12):  # True and False are immortal
        return False
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
    return before - sys.getrefcount(True) >= 16


def guard_bool_refcounts() -> bool:
    """Returns True when the defect was found and the reserve added (once per process)."""
    global _guarded
    if _guarded:
        return True
    if not emit_leaks_true():
        return False
    for obj in (True, False):
        # CPython object header: the reference count is the first field.
        ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
    _guarded = True
    return True
