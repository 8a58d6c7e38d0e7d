"""An idle window holds only what its first screen needs: the plotting library, the price
data and the router (numpy) load when the user first needs them (the chart opened, the
first keystroke or send), not at start (issue "Lean": about 75 MB together), and the chart's
library off the UI thread. Driven in a
child process, as `routedesk` starts, so that nothing another test imported counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Loaded on first use only.
LAZY = ("pyqtgraph", "genai_prices", "numpy", "desktop.router", "aiohttp")

DRIVER = r"""
import json, sys
from desktop.ui.app import launch
from PySide6.QtCore import QTimer

LAZY = LAZY_NAMES
app, loop, window = launch([])
app.setQuitOnLastWindowClosed(False)
seen = {}

def loaded():
    return sorted(m for m in LAZY if m in sys.modules)

def finish():
    print(json.dumps(seen), flush=True)
    window.closed.connect(app.quit)
    window.close()

def after_typing():
    if "genai_prices" in sys.modules and "desktop.router" in sys.modules and window.controller._warm.done():
        seen["after_typing"] = loaded()
        window.chart_action.trigger()  # opens the spend chart (hidden by default)
        chart = window.chart
        # at the click: the panel and its totals, the plots still loading in a worker
        seen["at_click"] = {"visible": chart.isVisible(), "drawing": chart.drawing.isVisible(),
                            "plots": chart.share_plot is not None, "totals": chart.totals.text()}
        QTimer.singleShot(0, after_chart)
    else:
        QTimer.singleShot(20, after_typing)

def after_chart():
    chart = window.chart
    if chart.share_plot is None:
        QTimer.singleShot(20, after_chart)
        return
    seen["chart_visible"] = chart.isVisible()
    seen["drawing_after"] = chart.drawing.isVisible()
    seen["after_chart"] = loaded()
    finish()

def idle():
    c = window.controller
    if c.health.checking or not c.health.providers:  # the first health check, over
        QTimer.singleShot(20, idle)
        return
    seen["idle"] = loaded()
    seen["health"] = sorted(c.health.providers)
    window.input.edit.insertPlainText("h")  # the first keystroke
    QTimer.singleShot(0, after_typing)

def on_attached():  # past every start-up timer (first health check 0.8 s, monitor 1 s)
    QTimer.singleShot(1500, idle)

""".replace("LAZY_NAMES", repr(LAZY))


#: ends every driver: its ``on_attached()`` runs once the window's content is attached
ATTACHED = r"""
def _attached():
    if window.controller is None:
        QTimer.singleShot(20, _attached)
    else:
        on_attached()

QTimer.singleShot(0, _attached)
with loop:
    loop.run_forever()
"""


def _run(driver: str, home, sim) -> subprocess.CompletedProcess:
    """Run ``driver`` as the window's own process over ``home``."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ROUTEDESK_HOME=str(home), OLLAMA_HOST=sim.base_url)
    return subprocess.run([sys.executable, "-c", driver + ATTACHED], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _drive(driver: str, home, sim) -> dict:
    """What ``driver`` printed last, as JSON."""
    proc = _run(driver, home, sim)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1])


def test_an_idle_window_loads_chart_prices_and_router_only_when_first_needed(make_engine, home, sim):
    make_engine(openai=False)  # Ollama on the simulator, in the pair: the health check runs
    seen = _drive(DRIVER, home, sim)
    assert "ollama" in seen["health"]
    assert seen["idle"] == [], f"loaded by an idle window: {seen['idle']}"
    # typing starts the warm-up: the first answer does not wait for it
    assert {"genai_prices", "numpy", "desktop.router"} <= set(seen["after_typing"])
    assert "pyqtgraph" not in seen["after_typing"]
    # the click shows the panel at once; the plots follow when pyqtgraph has loaded off
    # the UI thread, instead of the window freezing for the import
    assert seen["at_click"]["visible"] and seen["at_click"]["drawing"] and not seen["at_click"]["plots"]
    assert "No answers" in seen["at_click"]["totals"]
    assert seen["chart_visible"] and not seen["drawing_after"] and "pyqtgraph" in seen["after_chart"]


HOVER = r"""
import json, sys
from desktop.ui.app import launch
from desktop.ui import prefetch
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication, QToolBar

app, loop, window = launch([])
app.setQuitOnLastWindowClosed(False)
seen = {}

def finish():
    print(json.dumps(seen), flush=True)
    window.closed.connect(app.quit)
    window.close()

def prefetched(tries=[0]):
    tries[0] += 1
    seen["prefetched"] = prefetch.is_loaded("pyqtgraph")
    if not seen["prefetched"] and tries[0] < 1000:  # 20 s at most
        QTimer.singleShot(20, prefetched)
        return
    seen["chart_visible_before_click"] = window.chart.isVisible()
    window.chart_action.trigger()
    seen["drawing_at_click"] = window.chart.drawing.isVisible()
    plots_made()

def plots_made(turns=[0]):  # the plots are made a step per event-loop turn, without an import to wait for
    turns[0] += 1
    seen["drawing_shown"] = seen.get("drawing_shown", False) or window.chart.drawing.isVisible()
    if window.chart.share_plot is None and turns[0] < 2000:
        QTimer.singleShot(1, plots_made)
        return
    seen["turns_to_plots"] = turns[0]
    finish()

def on_attached():
    seen["before_hover"] = "pyqtgraph" in sys.modules
    tb = window.findChildren(QToolBar)[0]
    QApplication.sendEvent(tb.widgetForAction(window.chart_action), QEvent(QEvent.Type.Enter))
    prefetched()

"""


def test_pointing_at_the_chart_button_loads_the_plots_before_the_click(make_engine, home, sim):
    make_engine(openai=False)
    seen = _drive(HOVER, home, sim)
    assert seen["before_hover"] is False
    assert seen["prefetched"], "pointing at the chart button did not start loading pyqtgraph"
    assert seen["chart_visible_before_click"] is False  # loaded by the hover, not by a shown chart
    assert not seen["drawing_at_click"] and not seen["drawing_shown"]  # no "Drawing the chart..." wait
    assert seen["turns_to_plots"] < 100  # three steps, no import


BROKEN = r"""
import json, sys
sys.modules["pyqtgraph"] = None  # a bundle without its plotting library: importing it raises ImportError
from desktop.ui.app import launch
from PySide6.QtCore import QTimer

app, loop, window = launch([])
app.setQuitOnLastWindowClosed(False)

def said(tries=[0]):
    tries[0] += 1
    text = window.chart.drawing.text()
    if "cannot be drawn" not in text and tries[0] < 500:
        QTimer.singleShot(20, said)
        return
    seen = {"text": text, "shown": window.chart.drawing.isVisible(), "window": window.isVisible()}
    print(json.dumps(seen), flush=True)
    window.closed.connect(app.quit)
    window.close()

def on_attached():
    window.chart_action.trigger()
    said()

"""


def test_a_chart_whose_library_is_missing_says_so_and_the_window_goes_on(make_engine, home, sim):
    make_engine(openai=False)
    seen = _drive(BROKEN, home, sim)
    assert "cannot be drawn" in seen["text"] and seen["shown"] and seen["window"]


CLOSED_EARLY = r"""
import atexit, json, sys, threading, time
class _Slow:  # pyqtgraph's ~100 modules take a second longer to import in the worker
    def find_spec(self, name, path=None, target=None):
        if name.startswith("pyqtgraph.") and threading.current_thread() is not threading.main_thread():
            time.sleep(0.01)
        return None
sys.meta_path.insert(0, _Slow())

def report():  # after Python has waited for its threads, before it tears the modules down
    mod = sys.modules.get("pyqtgraph")
    done = mod is not None and not getattr(mod.__spec__, "_initializing", True)
    print(json.dumps({"import_finished": done}), flush=True)
atexit.register(report)

from desktop.ui.app import launch
from PySide6.QtCore import QTimer
app, loop, window = launch([])
app.setQuitOnLastWindowClosed(False)

def quit_once_importing():
    if "pyqtgraph" not in sys.modules:  # the Qt types are still being made on this thread
        QTimer.singleShot(1, quit_once_importing)
        return
    window.closed.connect(app.quit)
    window.close()                 # ...and the user quits at once

def on_attached():
    window.chart_action.trigger()  # pyqtgraph starts importing in the worker...
    quit_once_importing()

"""


def test_quitting_while_the_chart_library_loads_exits_cleanly(make_engine, home, sim):
    """Python shutting down under a daemon thread's import crashed in Qt's modules (seen as
    a segfault on exit); the import now finishes first."""
    make_engine(openai=False)
    proc = _run(CLOSED_EARLY, home, sim)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"import_finished": True}
