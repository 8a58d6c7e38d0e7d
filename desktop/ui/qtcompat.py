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

``read_sources_lightly()``: after PySide6 is imported, every module imported for the first
time is checked for ``from __feature__ import ...`` by ``inspect.getsource()``, which
tokenizes the file and keeps all its lines in ``linecache`` for the life of the process.
For what RouteDesk loads on demand (pyqtgraph, numpy, genai-prices' 1.6 MB price table)
that is about 20 MB held for nothing and a 70-90 ms stall of the window the first time an
answer is priced. The same question ("does the file mention PySide6?") is answered here by
reading the file's bytes once, without keeping them.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

__all__ = ["binding_leaks", "guard_singleton_refcounts", "guard_bool_refcounts", "read_sources_lightly"]

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


def read_sources_lightly() -> bool:
    """Answer PySide6's per-import "uses PySide6?" check from the file's bytes (see the
    module docstring). Modules with no ``.py`` file (built-in, compiled, in a frozen
    app's archive) still get PySide6's own check. Returns whether the check was found
    (a PySide6 without it is left alone)."""
    import PySide6.QtCore  # noqa: F401  (installs the import hook and its module)

    feature = sys.modules.get("shibokensupport.feature")
    upstream = getattr(feature, "_mod_uses_pyside", None)
    if upstream is None:
        return False
    if getattr(upstream, "_routedesk", False):
        return True

    def _mod_uses_pyside(module: Any) -> bool:
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if isinstance(origin, str) and origin.endswith(".py"):
            try:
                with open(origin, "rb") as f:
                    return b"PySide6" in f.read()
            except OSError:
                pass
        return bool(upstream(module))

    _mod_uses_pyside._routedesk = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = _mod_uses_pyside  # type: ignore[union-attr]
    return True
