"""pyqtgraph copies every attribute of PySide6's QtCore, QtGui and QtWidgets into its own
mirror modules at import, which makes a Python type for every Qt class (about 8 MB the
chart never uses). ``plotlib.import_pyqtgraph`` gives the mirrors a lookup on first use
instead. Each case runs in a child process: pyqtgraph and PySide6's types must be fresh."""

from __future__ import annotations

from tests.child_process import driver_findings

DRIVER = r"""
import json, sys
from PySide6 import QtCore, QtGui, QtWidgets
app = QtWidgets.QApplication([])
mode = sys.argv[1]
if mode == "plain":
    import pyqtgraph as pg
else:
    from desktop.ui import plotlib
    if mode == "broken":  # the lazy mirrors fail half-way: the ordinary import takes over
        def fail(self, module):
            raise RuntimeError("simulated")
        plotlib._MirrorLoader.exec_module = fail
    pg = plotlib.import_pyqtgraph()
made = len(vars(QtWidgets)) + len(vars(QtGui)) + len(vars(QtCore))
pg.setConfigOptions(exitCleanup=False)
w = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
w.setBackground("w")
w.plot([1.7e9, 1.7e9 + 3600, 1.7e9 + 7200], [3, 1, 2], pen=pg.mkPen("#ff0000", width=4))
w.resize(400, 300)
w.show()
app.processEvents()
img = w.grab().toImage()
red = sum(1 for x in range(0, img.width(), 2) for y in range(0, img.height(), 2)
          if img.pixelColor(x, y).red() > 200 and img.pixelColor(x, y).green() < 80)
opengl_loaded = "PySide6.QtOpenGL" in sys.modules
import importlib
curves = importlib.import_module("pyqtgraph.graphicsItems.PlotCurveItem")
buffer = curves.QtOpenGL.QOpenGLBuffer  # what pyqtgraph's OpenGL drawing would use
from PySide6.QtOpenGL import QOpenGLBuffer
print(json.dumps({
    "opengl_loaded": opengl_loaded,
    "opengl_on_use": buffer is QOpenGLBuffer,
    "made": made,
    "red_pixels": red,
    "same_objects": pg.Qt.QtWidgets.QCalendarWidget is QtWidgets.QCalendarWidget
                    and pg.Qt.QtCore.Qt is QtCore.Qt and pg.QtGui.QPen is QtGui.QPen,
    "listed": min(len(dir(QtCore)), len(dir(QtGui)), len(dir(QtWidgets))),
}))
"""


def _run(mode: str) -> dict:
    return driver_findings(DRIVER, mode, QT_QPA_PLATFORM="offscreen")


def test_the_chart_library_makes_only_the_qt_types_it_uses():
    plain = _run("plain")
    light = _run("light")
    assert light["made"] < plain["made"] / 2, (light, plain)  # about 200 types instead of about 700
    assert light["red_pixels"] > 100 and plain["red_pixels"] > 100  # the curve is drawn
    assert light["same_objects"]  # pyqtgraph's Qt names are PySide6's own
    assert light["listed"] > 100  # dir() of PySide6's modules is whole again afterwards


def test_qt_opengl_loads_only_if_the_chart_library_draws_with_it():
    """2-7 MB the chart never uses: it does not draw with OpenGL."""
    plain = _run("plain")
    light = _run("light")
    assert plain["opengl_loaded"]  # pyqtgraph's own import loads it
    assert not light["opengl_loaded"]
    assert light["opengl_on_use"]  # drawing with OpenGL would find the real classes


def test_a_failed_lazy_import_falls_back_to_the_ordinary_one():
    broken = _run("broken")
    assert broken["red_pixels"] > 100
    assert broken["same_objects"]
    assert broken["listed"] > 100


WORKER = r"""
import json, sys, threading
from PySide6 import QtWidgets
app = QtWidgets.QApplication([])
from desktop.ui import plotlib, prefetch

def made():  # every PySide6 type and module that exists so far
    return {name: sorted(vars(mod)) for name, mod in list(sys.modules.items())
            if name.startswith("PySide6.") and mod is not None}

seen = {"steps": 0}
prepare = plotlib.qt_type_steps
def prepared():
    for _ in prepare():
        seen["steps"] += 1
        seen["thread"] = threading.current_thread() is threading.main_thread()
        yield
    seen["after_prepare"] = made()
plotlib.qt_type_steps = prepared

def loaded():
    after = made()
    before = seen["after_prepare"]
    seen["made_in_worker"] = {name: sorted(set(names) - set(before.get(name, ())))
                              for name, names in after.items() if set(names) - set(before.get(name, ()))}
    app.quit()
prefetch.load_then(prefetch.PLOTTING, loaded)
app.exec()
print(json.dumps({"prepared_on_ui_thread": seen["thread"], "steps": seen["steps"],
                  "made_in_worker": seen["made_in_worker"]}))
"""


def test_the_worker_importing_the_chart_library_makes_no_qt_type():
    """Two threads making PySide6 types at once crash the process (about one first chart
    opening in twelve did): the UI thread makes what pyqtgraph's import needs first, a few
    types per event-loop turn.
    Fails when pyqtgraph starts to need a Qt type that ``plotlib.QT_TYPES`` lacks."""
    seen = driver_findings(WORKER, QT_QPA_PLATFORM="offscreen")
    assert seen["prepared_on_ui_thread"]
    assert seen["steps"] > 3  # in pieces, one per event-loop turn
    assert seen["made_in_worker"] == {}
