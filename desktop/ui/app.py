"""App bootstrap: one QApplication, one qasync loop, the engine, the main window.

``run_app(argv)`` is what ``routedesk`` with no arguments runs; ``build_window(engine)``
is what tests and ``routedesk --self-test`` (``desktop/selftest.py``) build the window with.

Start-up order (``launch``): the QApplication, the window's frame with the geometry and
splitter sizes read straight from the settings table (sqlite3 only), shown; then, after
its first paint, the engine is imported and opened and the content attached. Until then
nothing heavier than Qt is imported (no asyncio, httpx, keyring, engine or widgets; the
layout is read by ``desktop.storage.peek``, sqlite3 only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["run_app", "launch", "read_window_state", "make_app", "make_loop", "build_window",
           "install_asyncgen_hooks", "hold_gc"]

log = logging.getLogger(__name__)


def make_app(argv: Sequence[str] | None = None):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from desktop.ui.qtcompat import guard_singleton_refcounts, read_sources_lightly

    guard_singleton_refcounts()
    read_sources_lightly()
    app = QApplication.instance()
    if app is None:
        # Fractional scaling (150 %, 200 %) exactly as the system asks, not rounded. That is
        # Qt 6's default; say it explicitly only against the environment variable (touching
        # the Qt namespace costs PySide6 13 ms of enum creation before the window shows).
        if os.environ.get("QT_SCALE_FACTOR_ROUNDING_POLICY"):
            from PySide6.QtCore import Qt

            QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(["routedesk", *(argv or [])])
    app.setApplicationName("RouteDesk")
    app.setApplicationDisplayName("RouteDesk")
    app.setOrganizationName("RouteDesk")
    app.setDesktopFileName("routedesk")
    from desktop.ui.theme import icon

    app.setWindowIcon(icon("routedesk"))
    return app


def make_loop(app, *, already_running: bool = False):
    import asyncio

    from desktop.ui.qloop import QEventLoop
    from desktop.ui.qtcompat import guard_singleton_refcounts

    guard_singleton_refcounts()

    loop = QEventLoop(app, already_running=already_running)  # qasync's, cancelled timers dropped
    asyncio.set_event_loop(loop)
    install_asyncgen_hooks(loop)
    return loop


def install_asyncgen_hooks(loop) -> None:
    """qasync does not install asyncio's async-generator hooks, so a half-read HTTP
    stream would be finalised synchronously by the garbage collector ("async generator
    ignored GeneratorExit"). Route finalisation through the loop, as asyncio does."""
    sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook)


def build_window(engine):
    """Controller and main window over an open engine (tests and screenshots use this)."""
    from desktop.ui.controller import AppController
    from desktop.ui.main_window import MainWindow

    controller = AppController(engine)
    window = MainWindow(controller)
    return controller, window


def _fatal(title: str, text: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.critical(None, title, text)


WINDOW_KEYS = ("ui.geometry", "ui.splitter", "ui.chart_visible")


def read_window_state(db_path=None) -> dict:
    """The window's saved layout, read read-only before the engine loads (the Store holds
    the same values; a missing or unreadable database gives {})."""
    if db_path is None:
        from desktop.core.paths import database_path

        try:
            db_path = database_path()
        except OSError as exc:  # an unusable data folder: the engine reports it once it opens
            log.info("could not read the window state early: %s", exc)
            return {}
    return _peek_module().peek_settings(db_path, WINDOW_KEYS)


def _peek_module():
    """``desktop.storage.peek`` without running ``desktop/storage/__init__.py`` first: that
    imports the Store and keyring (about 200 ms), which would delay the frame's first
    paint. Loaded from its file when there is one (a source install); otherwise (a frozen
    build) imported the usual way."""
    import importlib.util
    from pathlib import Path

    name = "desktop.storage.peek"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "storage" / "peek.py"
    spec = importlib.util.spec_from_file_location(name, path) if path.is_file() else None
    if spec is None or spec.loader is None:
        import desktop.storage.peek as peek

        return peek
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def after_first_paint(widget, fn, fallback_ms: int = 250) -> None:
    """Run ``fn`` once, from the event loop, right after ``widget`` first paints (or after
    ``fallback_ms`` if it never does, e.g. minimised)."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    fired: list[int] = []

    def fire() -> None:
        if not fired:
            fired.append(1)
            widget.removeEventFilter(watcher)
            fn()

    class _Watcher(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint and not fired:
                QTimer.singleShot(0, fire)  # after this paint is flushed to the screen
            return False

    watcher = _Watcher(widget)
    widget.installEventFilter(watcher)
    QTimer.singleShot(fallback_ms, fire)


def hold_gc():
    """Pause the cyclic garbage collector for the start-up; returns ``release()``.

    Start-up allocates about 70,000 objects that the collector tracks (modules, classes,
    Qt wrappers, the engine) and nearly all of them live as long as the app: measured,
    fewer than 1 % are garbage when the content attaches. Collecting while they pile up
    rescans them again and again (about 50 young collections, 20-30 ms before the content
    shows). ``release()``, called once the engine is open and before the widgets are
    built, freezes what exists by then (``gc.freeze``: never scanned again, as the
    controller's warm-up does later) and turns the collector back on, so the widgets and
    everything after them are collected as usual. Idempotent; a collector that was off
    already stays off."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    released: list[int] = []

    def release() -> None:
        if released:
            return
        released.append(1)
        if was_enabled:
            gc.freeze()
            gc.enable()

    return release


def _import_engine() -> None:
    """Import the engine's modules (run in a worker thread by ``launch``).

    httpx's ``__init__`` imports its own command-line client (``httpx._main``: click, rich
    and pygments, about 70 ms) whenever those happen to be installed, and falls back to a
    stub ``httpx.main`` when they are not. The window never runs that client, so while
    httpx is first imported here the module is marked as unavailable (a ``None`` entry in
    ``sys.modules`` makes the import raise ImportError, httpx's own fallback); the mark is
    removed afterwards, so ``import httpx._main`` later still works."""
    block = "httpx" not in sys.modules and "httpx._main" not in sys.modules
    if block:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import desktop.engine.app  # noqa: F401
    finally:
        if block and "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]


def launch(argv: Sequence[str] | None = None, *, on_error=None):
    """Create the app and show the window's frame; once it has painted, create the qasync
    loop and schedule loading the engine into the window. Returns (app, loop, window); run
    the loop to start. ``window.shown_at`` is the ``time.monotonic()`` of the first paint.
    ``on_error(title, text)`` is told when the engine can't open (the window then closes)."""
    import time

    release_gc = hold_gc()
    from PySide6.QtCore import QEventLoop, QTimer

    app = make_app(argv)
    from desktop.ui.main_window import MainWindow

    window = MainWindow(state=read_window_state())
    window.start_error = None
    window.shown_at = None
    window.show()

    # Until the frame is on screen a plain Qt event loop runs it: asyncio and qasync are
    # imported only afterwards (together they cost about as much as the frame itself).
    first = QEventLoop()

    def painted() -> None:
        window.shown_at = time.monotonic()
        first.quit()

    after_first_paint(window, painted)
    window.closed.connect(first.quit)
    first.exec()
    loop = make_loop(app)

    async def load() -> None:
        import asyncio

        # the engine's modules (httpx, keyring, storage, providers: most of the wait) are
        # imported in a worker thread so the frame stays responsive; nothing there is Qt,
        # and everything that opens or builds runs here, on the UI thread
        with contextlib.suppress(Exception):  # the same import below reports it
            await asyncio.to_thread(_import_engine)
        if window._closing:
            return
        from desktop.core.errors import RouteDeskError
        from desktop.engine.app import Engine

        try:
            engine = Engine.open()
        except RouteDeskError as err:
            window.start_error = ("RouteDesk can't start", f"{err.message}\n\n{err.fix}")
        except Exception as exc:  # a locked or unreadable database, a missing folder...
            window.start_error = ("RouteDesk can't start", f"Opening the data folder failed: {exc}")
        if window.start_error is not None:
            return  # loaded() says so, outside this task (the message box runs its own loop)
        release_gc()  # what is loaded by now stays; the widgets are collected as usual
        from desktop.ui.controller import AppController

        controller = AppController(engine)
        window.attach(controller)
        # background probes: the status-bar dots stay current and the engine skips providers that are down
        QTimer.singleShot(1000, window, controller.start_health_monitor)

    def loaded(task) -> None:
        release_gc()  # also when the start failed or the window closed while loading
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("starting the window failed", exc_info=exc)
            window.start_error = ("RouteDesk can't start", f"Starting the window failed: {exc}")
        if window.start_error is not None:
            (on_error or _fatal)(*window.start_error)
            window.close()

    def start() -> None:
        import asyncio

        window._load_task = asyncio.ensure_future(load())
        window._load_task.add_done_callback(loaded)

    if not window._closed:
        QTimer.singleShot(0, window, start)
    else:
        release_gc()
    return app, loop, window


def run_app(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("ROUTEDESK_LOG", "WARNING"))
    # httpcore logs response headers at DEBUG; a server echoing a key would put it in the log.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    app, loop, window = launch(argv)
    if window._closed:  # closed before it finished painting
        return 0
    window.closed.connect(app.quit)
    with loop:
        loop.run_forever()
    return 1 if window.start_error is not None else 0
