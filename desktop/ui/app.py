"""App bootstrap: one QApplication, one qasync loop, the engine, the main window.

``run_app(argv)`` is what ``routedesk`` with no arguments runs. ``self_test()`` builds
every screen offscreen against a throwaway data folder and exits 0 when all is well
(used by ``routedesk --self-test`` and packaging smoke tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["run_app", "self_test", "make_app", "make_loop", "build_window", "install_asyncgen_hooks"]

log = logging.getLogger(__name__)


def make_app(argv: Sequence[str] | None = None):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from desktop.ui.qtcompat import guard_singleton_refcounts

    guard_singleton_refcounts()
    app = QApplication.instance()
    if app is None:
        # Fractional scaling (150 %, 200 %) exactly as the system asks, not rounded.
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
    import qasync

    from desktop.ui.qtcompat import guard_singleton_refcounts

    guard_singleton_refcounts()

    loop = qasync.QEventLoop(app, already_running=already_running)
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


def run_app(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("ROUTEDESK_LOG", "WARNING"))
    # httpcore logs response headers at DEBUG; a server echoing a key would put it in the log.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    app = make_app(argv)
    loop = make_loop(app)
    from desktop.core.errors import RouteDeskError
    from desktop.engine.app import Engine

    try:
        engine = Engine.open()
    except RouteDeskError as err:
        _fatal("RouteDesk can't start", f"{err.message}\n\n{err.fix}")
        return 1
    except Exception as exc:  # a locked or unreadable database, a missing folder...
        _fatal("RouteDesk can't start", f"Opening the data folder failed: {exc}")
        return 1
    controller, window = build_window(engine)
    window.closed.connect(app.quit)
    window.show()
    from PySide6.QtCore import QTimer

    # background probes: the status-bar dots stay current and the engine skips providers that are down
    QTimer.singleShot(1000, window, controller.start_health_monitor)
    with loop:
        loop.run_forever()
    return 0


def self_test(engine=None) -> int:
    """Build every screen offscreen, render a streamed-looking conversation, exit 0 on success."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = make_app([])
    app.setQuitOnLastWindowClosed(False)  # the coroutine below decides when it is over
    loop = make_loop(app)
    tmp = None
    if engine is None:
        from desktop.engine.app import Engine

        tmp = tempfile.TemporaryDirectory(prefix="routedesk-selftest-")
        engine = Engine.open(Path(tmp.name))

    async def exercise() -> None:
        from desktop.ui.models import MessageItem

        controller, window = build_window(engine)
        window.show()
        s = controller.session
        s.append(MessageItem("user", "Show me a loop in Python"))
        s.append(MessageItem("assistant", "Here:\n\n```python\nfor i in range(3):\n    print(i)\n```\n"))
        window.toggle_chart(True)
        window.open_settings("")
        window.open_health()
        await asyncio.sleep(0.05)
        for w in (window, window._settings, window._health):
            if w.grab().isNull():
                raise RuntimeError(f"{type(w).__name__} rendered nothing")
        window.close()
        for _ in range(200):
            if window._closed:
                break
            await asyncio.sleep(0.01)
        if not window._closed:
            raise RuntimeError("the window did not close")

    try:
        with loop:
            loop.run_until_complete(exercise())
    except Exception as exc:
        print(f"UI self-test failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            tmp.cleanup()
    print("UI self-test passed")
    return 0
