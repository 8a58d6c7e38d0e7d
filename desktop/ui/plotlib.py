"""pyqtgraph (the spend chart's plotting library), imported without making every Qt class.

pyqtgraph keeps its own mirror modules of QtCore, QtGui and QtWidgets and fills them at
import by reading every attribute of PySide6's modules (``_copy_attrs`` in
``pyqtgraph/Qt/__init__.py``). PySide6 makes a class's Python type, and its enums, the
first time the class is looked up, so that loop makes some 700 types the chart never
uses: about 8 MB for the rest of the session and 50-60 ms of the chart's first opening
(measured on PySide6 6.11, pyqtgraph 0.14).

``import_pyqtgraph`` gives each mirror a module ``__getattr__`` that looks a name up in
PySide6 when pyqtgraph first asks for it, and while pyqtgraph is imported has PySide6's
modules list no names, so the copying loop has nothing to copy. Every name pyqtgraph uses
resolves to the same PySide6 object as before; only the unused ones are never made. If
anything about that fails, pyqtgraph is imported the ordinary way.

While it runs (in the prefetch worker), ``dir()`` of those three PySide6 modules is empty
for every thread; nothing in RouteDesk lists them.

pyqtgraph also imports PySide6's QtOpenGL (``PlotCurveItem``, ``PColorMeshItem``, its
OpenGL helpers) for drawing with OpenGL, which the chart never turns on (``useOpenGL`` is
off); its binding alone is 2.3 MB RSS (6.8 MB in the first runs after a fresh install on the
same machine). It gets a stand-in (``desktop.core.lazy_modules``) that imports the real
module the first time pyqtgraph uses one of its names.

``qt_type_steps`` must run on the UI thread before the import starts in a worker. PySide6
makes a type the first time it is looked up, and that is not safe from two threads: one
thread's type creation runs Python code (the type's enums), the other thread gets the GIL
meanwhile and makes a type of its own, which changes the table the first is still walking
(shiboken's ``incarnateType``), and the process dies with a segmentation fault. Seen here
as about one crash in twelve first chart openings under ``tools/screenshots.py`` (with
pyqtgraph's own copying loop as well as without it). ``qt_type_steps`` makes, on the UI
thread, every Qt type and module pyqtgraph's import looks up (``QT_TYPES``), so the worker
makes none; ``tests/ui/test_plotlib.py`` keeps the list whole.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType

from desktop.core.lazy_modules import stand_in

__all__ = ["MIRRORED", "OPENGL", "QT_TYPES", "import_pyqtgraph", "make_qt_types", "qt_type_steps"]

#: the PySide6 modules pyqtgraph mirrors
MIRRORED = ("QtCore", "QtGui", "QtWidgets")

#: what pyqtgraph imports for drawing with OpenGL only
OPENGL = "PySide6.QtOpenGL"

#: every PySide6 module, and every type in it, that ``import pyqtgraph`` looks up (0.13-0.14),
#: but QtOpenGL (see the module docstring)
QT_TYPES: dict[str, tuple[str, ...]] = {
    "QtCore": ("QAbstractItemModel", "QBasicMutex", "QDateTime", "QEvent", "QMutex", "QPoint", "QRect",
               "QRectF", "Qt"),
    "QtGui": ("QAction", "QBitmap", "QBrush", "QEnterEvent", "QFont", "QInputEvent", "QMatrix4x4",
              "QMouseEvent", "QPaintDevice", "QPainter", "QPainterPath", "QPalette", "QPen", "QPicture",
              "QPixmap", "QPointerEvent", "QPolygon", "QPolygonF", "QRegion", "QSinglePointEvent",
              "QTransform", "QVector3D", "QWheelEvent"),
    "QtWidgets": ("QAbstractButton", "QAbstractGraphicsShapeItem", "QAbstractItemView", "QAbstractScrollArea",
                  "QAbstractSlider", "QAbstractSpinBox", "QCheckBox", "QComboBox", "QDialog", "QDoubleSpinBox",
                  "QFileDialog", "QFileSystemModel", "QFrame", "QGraphicsItem", "QGraphicsLayoutItem",
                  "QGraphicsObject", "QGraphicsPathItem", "QGraphicsScene", "QGraphicsView", "QGraphicsWidget",
                  "QGroupBox", "QLabel", "QLineEdit", "QListWidgetItem", "QMenu", "QProgressDialog",
                  "QPushButton", "QRadioButton", "QSlider", "QSpinBox", "QSplitter", "QTableView",
                  "QTableWidget", "QTableWidgetItem", "QTreeView", "QTreeWidget", "QTreeWidgetItem", "QWidget"),
    "QtOpenGLWidgets": ("QOpenGLWidget",),
    "QtSvg": (),
    "QtTest": ("QTest",),
}

log = logging.getLogger(__name__)
_lock = threading.Lock()


class _MirrorLoader(importlib.abc.Loader):
    """Runs the mirror module's own code, then gives it the forwarding ``__getattr__``."""

    def __init__(self, inner: importlib.abc.Loader, source: ModuleType) -> None:
        self._inner = inner
        self._source = source

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        if "__getattr__" not in vars(module):
            module.__getattr__ = functools.partial(getattr, self._source)  # type: ignore[method-assign]


class _MirrorFinder(importlib.abc.MetaPathFinder):
    """Finds pyqtgraph's mirror modules with the other finders and wraps their loader."""

    def __init__(self, sources: dict[str, ModuleType]) -> None:
        self._sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._sources.get(fullname)
        if source is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _MirrorLoader(spec.loader, source)
                return spec  # type: ignore[no-any-return]
        return None


def qt_type_steps(per_step: int = 8) -> Iterator[None]:
    """Make the Qt types of ``QT_TYPES`` (see the module docstring), ``per_step`` at a
    time: the caller runs one step per event-loop turn, so the 15-30 ms this takes the
    first time never stalls the window in one piece. A module this PySide6 build lacks
    is left for pyqtgraph's import to report."""
    if "pyqtgraph" in sys.modules:
        return
    made = 0
    for module_name, names in QT_TYPES.items():
        try:
            module = importlib.import_module(f"PySide6.{module_name}")
        except ImportError:
            continue
        for name in names:
            if name not in vars(module):
                getattr(module, name, None)
                made += 1
                if made % per_step == 0:
                    yield


def make_qt_types() -> None:
    """All of ``qt_type_steps`` at once (for callers that do not run an event loop)."""
    for _ in qt_type_steps():
        pass


def _no_names() -> list[str]:
    return []


def import_pyqtgraph() -> ModuleType:
    """``import pyqtgraph``, making only the Qt types it uses (see the module docstring)."""
    with _lock:
        if "pyqtgraph" in sys.modules:  # imported, or blocked (None): as Python would answer
            return importlib.import_module("pyqtgraph")
        before = set(sys.modules)
        sources = {name: importlib.import_module(f"PySide6.{name}") for name in MIRRORED}
        finder = _MirrorFinder({f"pyqtgraph.Qt.{name}": mod for name, mod in sources.items()})
        missing = object()
        listings = {name: vars(mod).get("__dir__", missing) for name, mod in sources.items()}
        opengl = stand_in(OPENGL)
        sys.meta_path.insert(0, finder)
        try:
            for mod in sources.values():
                mod.__dir__ = _no_names  # type: ignore[method-assign]
            if opengl is not None:
                sys.modules[OPENGL] = opengl
            return importlib.import_module("pyqtgraph")
        except Exception:
            log.debug("pyqtgraph with lazy Qt mirrors failed; importing it as usual", exc_info=True)
        finally:
            sys.meta_path.remove(finder)
            if opengl is not None and sys.modules.get(OPENGL) is opengl:
                del sys.modules[OPENGL]  # pyqtgraph keeps it; anyone else importing it gets the real one
            for name, mod in sources.items():
                if listings[name] is missing:
                    del mod.__dir__
                else:
                    mod.__dir__ = listings[name]  # type: ignore[method-assign]
        for name in [n for n in sys.modules if n not in before and n.split(".")[0] == "pyqtgraph"]:
            del sys.modules[name]  # the half-made modules, so the ordinary import starts afresh
        return importlib.import_module("pyqtgraph")
