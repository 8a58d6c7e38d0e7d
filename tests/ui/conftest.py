"""Fixtures for the UI suite: Qt offscreen, one qasync loop per test that pytest-qt's
``qtbot.waitUntil`` drives, the provider simulator, an engine on a fresh ``ROUTEDESK_HOME``
and the main window over it.

Keys go to the real OS keyring (the Secret Service that ``scripts/with-keyring.sh``
starts), as in the rest of the suite: each test's engines share one ``KeyStore`` under a
keyring service of its own (``isolated_keystore``), so no test sees another's keys, and
every key it stored is deleted afterwards. ``BrokenKeyStore`` is the real ``KeyStore`` on
keyring's own ``fail`` backend: what a machine with no keyring has.

Every test fails if it leaves a top-level widget behind (as napari's fixtures do): the
windows ``app_window`` makes are closed and deleted for it; a test that opens another
top-level widget closes it, or hands it to ``qtbot.addWidget``.

``QT_QPA_PLATFORM`` is set before anything imports Qt.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from keyring.backends import fail  # noqa: E402

from desktop.core.types import ModelRef  # noqa: E402
from desktop.storage import KeyStore  # noqa: E402
from desktop.ui.qtcompat import guard_singleton_refcounts  # noqa: E402
from tests.simulator.fixtures import sim  # noqa: E402,F401

guard_singleton_refcounts()  # PySide6 6.12.0 drops references to True and None

STRONG = ModelRef("openai", "gpt-4o")
WEAK = ModelRef("ollama", "llama3.2:latest")
KEY = "sk-test-key"


class BrokenKeyStore(KeyStore):
    """The real KeyStore over keyring's ``fail`` backend (no keyring on this machine)."""

    def __init__(self) -> None:
        super().__init__(backend=fail.Keyring())


def _deleted_later(qapp) -> None:
    """Run the deletions ``deleteLater()`` queued (QTest::qWait does the same), and free
    the widgets only Python held in reference cycles (pyqtgraph's parentless menus)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture(autouse=True)
def _no_leaked_widgets(qapp) -> Iterator[None]:
    """Fail the test that leaves a top-level widget alive (napari's check)."""
    before = set(qapp.topLevelWidgets())
    yield
    _deleted_later(qapp)
    leaked = [w for w in qapp.topLevelWidgets() if w not in before]
    if not leaked:
        return
    names = sorted(f"{type(w).__name__}{'' if w.isVisible() else ' (hidden)'}" for w in leaked)
    for w in leaked:  # so the next test starts clean
        with contextlib.suppress(RuntimeError):
            w.close()
            w.deleteLater()
    _deleted_later(qapp)
    pytest.fail(f"the test leaked {len(leaked)} top-level widget(s): {', '.join(names)}; close them "
                "(and deleteLater) before it ends, or hand them to qtbot.addWidget", pytrace=False)


@pytest.fixture
def qloop(qapp, qtbot) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop marked running, so tasks advance whenever Qt processes events
    (qtbot.waitUntil). Nothing calls processEvents() in the app itself."""
    import gc

    from desktop.ui.app import install_asyncgen_hooks
    from desktop.ui.qloop import QEventLoop

    old_hooks = sys.get_asyncgen_hooks()
    loop = QEventLoop(qapp, already_running=True)  # the app's loop (desktop.ui.app.make_loop)
    asyncio.set_event_loop(loop)
    install_asyncgen_hooks(loop)
    try:
        yield loop
    finally:
        # finalise half-read HTTP streams while the loop's asyncgen hooks are installed
        gc.collect()
        done = loop.create_task(loop.shutdown_asyncgens())
        qtbot.waitUntil(done.done, timeout=5000)
        executor = getattr(loop, "_QEventLoop__default_executor", None)
        if executor is not None:  # getaddrinfo threads
            executor.shutdown(wait=True)
        sys.set_asyncgen_hooks(*old_hooks)
        asyncio.events._set_running_loop(None)
        with contextlib.suppress(Exception):
            loop._after_run_forever()
        asyncio.set_event_loop(None)


def configure(engine, sim, *, openai: bool = True, ollama: bool = True, pair: bool = True) -> None:
    store = engine.store
    if openai:
        store.add_provider("openai", "openai", sim.openai_url)
        engine.keystore.set("openai", KEY)
    if ollama:
        store.add_provider("ollama", "ollama", sim.ollama_url)
    if pair:
        engine.set_pair(STRONG if openai else None, WEAK if ollama else None)


@pytest.fixture
def make_engine(home, qloop, monkeypatch, sim, isolated_keystore):
    """Factory: an Engine on ``home`` (configured against the simulator by default), its
    keys in the real keyring under this test's own service unless ``keystore`` is given."""
    from desktop.engine.app import Engine

    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    made = []

    def make(*, keystore=None, configured: bool = True, **kw):
        engine = Engine.open(home, keystore=keystore if keystore is not None else isolated_keystore)
        if configured:
            configure(engine, sim, **kw)
        made.append(engine)
        return engine

    yield make


@pytest.fixture
def app_window(make_engine, qtbot):
    """Factory: (controller, window) over an engine; closed cleanly after the test."""
    from desktop.ui.app import build_window

    windows = []

    def make(engine=None, *, show: bool = True, resize: bool = True):
        engine = engine if engine is not None else make_engine()
        controller, window = build_window(engine)
        if resize:
            window.resize(1100, 760)
        if show:
            window.show()
            qtbot.waitExposed(window)
        windows.append(window)
        return controller, window

    yield make
    for w in windows:
        if not w._closed:
            w.close()
            try:
                qtbot.waitUntil(lambda w=w: w._closed, timeout=10000)
            except Exception:
                import io

                out = io.StringIO()
                for t in asyncio.all_tasks(asyncio.get_event_loop()):
                    t.print_stack(file=out)
                raise AssertionError("the window did not close; pending tasks:\n" + out.getvalue()) from None
        # delete the widget tree now: left to interpreter shutdown, PySide and
        # pyqtgraph wrappers can be torn down in the wrong order
        gone: list[int] = []
        w.destroyed.connect(lambda *_, gone=gone: gone.append(1))
        w.deleteLater()
        qtbot.waitUntil(lambda gone=gone: bool(gone), timeout=5000)


@pytest.fixture
def ui(app_window):
    """The usual case: a configured engine and its window."""
    return app_window()
