"""Fixtures for the UI suite: Qt offscreen, one qasync loop per test that pytest-qt's
``qtbot.waitUntil`` drives, the provider simulator, an engine on a temporary
``ROUTEDESK_HOME`` and the main window over it.

``QT_QPA_PLATFORM`` is set before anything imports Qt.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import asyncio  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from desktop.core.errors import ErrorKind, RouteDeskError  # noqa: E402
from desktop.core.types import ModelRef  # noqa: E402
from desktop.ui.qtcompat import guard_singleton_refcounts  # noqa: E402
from tests.simulator.fixtures import sim  # noqa: E402,F401

guard_singleton_refcounts()  # PySide6 6.12.0 drops references to True and None

STRONG = ModelRef("openai", "gpt-4o")
WEAK = ModelRef("ollama", "llama3.2:latest")
KEY = "sk-test-key"


class MemoryKeyStore:
    """KeyStore's interface over a dict, for flows that are not about the keyring."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    def set(self, name: str, key: str) -> None:
        self.keys[name] = key

    def get(self, name: str) -> str | None:
        return self.keys.get(name)

    def delete(self, name: str) -> None:
        self.keys.pop(name, None)

    def check(self) -> None:
        return None


class BrokenKeyStore(MemoryKeyStore):
    def _fail(self, *_a):
        raise RouteDeskError(ErrorKind.MISCONFIGURED, "No usable keyring.", "Install gnome-keyring.")

    set = get = delete = check = _fail  # type: ignore[assignment]


@pytest.fixture
def qloop(qapp, qtbot) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop marked running, so tasks advance whenever Qt processes events
    (qtbot.waitUntil). Nothing calls processEvents() in the app itself."""
    import gc

    import qasync

    from desktop.ui.app import install_asyncgen_hooks

    old_hooks = sys.get_asyncgen_hooks()
    loop = qasync.QEventLoop(qapp, already_running=True)
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
        try:
            loop._after_run_forever()
        except Exception:
            pass
        asyncio.set_event_loop(None)


@pytest.fixture
def memkeys() -> MemoryKeyStore:
    return MemoryKeyStore()


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
def make_engine(home, qloop, monkeypatch, sim):
    """Factory: an Engine on ``home`` (configured against the simulator by default)."""
    from desktop.engine.app import Engine

    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    made = []

    def make(*, keystore=None, configured: bool = True, **kw):
        engine = Engine.open(home, keystore=keystore if keystore is not None else MemoryKeyStore())
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
        gone = []
        w.destroyed.connect(lambda *_: gone.append(1))
        w.deleteLater()
        qtbot.waitUntil(lambda: bool(gone), timeout=5000)


@pytest.fixture
def ui(app_window):
    """The usual case: a configured engine and its window."""
    return app_window()
