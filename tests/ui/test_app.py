"""Quitting, restoring state, opening a huge conversation, the markdown splitter."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

from PySide6.QtCore import Qt

from desktop.core.types import RouteDecision, Usage
from desktop.ui.markdown import Segment, split_segments
from tests.ui.conftest import WEAK


def test_ctrl_q_cancels_the_stream_and_closes_the_database(ui, qtbot, sim):
    controller, window = ui
    sim.chunk_delay = 0.02
    sim.reply = lambda m: " ".join(f"w{i}" for i in range(500))
    controller.send("long one", "weak")
    item = controller.session.items[-1]
    qtbot.waitUntil(lambda: len(item.text) > 10, timeout=10000)
    store = controller.engine.store
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window._closed, timeout=10000)
    assert not window.isVisible()
    assert item.status == "stopped"
    assert controller._task.done()
    # the database was closed: reopening sees the stopped partial answer
    from desktop.storage import Store

    s2 = Store(store.path)
    try:
        rec = s2.get_message(item.id)
        assert rec.status == "stopped" and rec.text
    finally:
        s2.close()


def test_geometry_splitter_and_last_conversation_are_restored(make_engine, app_window, qtbot):
    engine = make_engine()
    controller, window = app_window(engine)
    controller.send("remember me", "weak")
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    cid = controller.session.conversation_id
    window.resize(1000, 700)
    window.toggle_chart(True)
    window.splitter.setSizes([200, 500, 300])
    sizes = window.splitter.sizes()
    window.close()
    qtbot.waitUntil(lambda: window._closed, timeout=10000)

    engine2 = make_engine(configured=False)
    c2, w2 = app_window(engine2, resize=False)
    # the offscreen screen is 800 px wide: the width is clamped to it (and to the
    # window's minimum with the chart shown), the height is restored exactly
    assert w2.height() == 700 and w2.width() <= 1000
    assert w2.chart.isVisible()
    assert c2.setting("ui.splitter") == sizes  # restored into a window clamped to the small screen
    assert w2.splitter.sizes()[0] > 0
    assert c2.session.conversation_id == cid
    assert [i.text for i in c2.session.items][0] == "remember me"


def _fill(store, n_pairs: int) -> int:
    cid = store.create_conversation("Huge")
    route = RouteDecision("weak", 0.1, 0.5, "test", "test")
    text = "Some **markdown** answer with `code` and a list:\n\n- one\n- two\n"
    store.conn if hasattr(store, "conn") else None
    for i in range(n_pairs):
        store.add_user_message(cid, f"question {i}")
        mid = store.start_answer(cid, route=route, model=WEAK)
        store.finish_answer(mid, text=text + str(i), status="complete", model=WEAK, usage=Usage(10, 20),
                            cost_usd=Decimal(0), ttft_ms=12.0, route=route)
    return cid


def test_ten_thousand_messages_open_by_their_latest_page(make_engine, app_window, qtbot):
    """Opening reads one page and renders its end: what keeps a long conversation quick.
    How quick is a benchmark figure (benchmarks/bench_ui.py), not a test: a loaded CI
    machine made a 300 ms budget here fail for no fault of the code."""
    engine = make_engine()
    cid = _fill(engine.store, 5000)
    controller, window = app_window(engine)
    controller.refresh_conversations()
    controller.open_conversation(cid)
    assert controller.session.more_before and len(controller.session.items) <= 400
    assert controller.session.items[-1].text.endswith("4999")
    assert window.chat.rendered_count() <= 60
    # "show earlier" renders the previous page and keeps going back
    before = window.chat.rendered_count()
    qtbot.mouseClick(window.chat.earlier_btn, Qt.MouseButton.LeftButton)
    assert window.chat.rendered_count() > before
    # a search hit far back is loaded and rendered on demand
    hit = [h for h in controller.engine.store.search("question") if h.conversation_id == cid]
    oldest = min(h.message_id for h in hit)
    assert window.chat.ensure_visible_message(oldest) is not None


def test_markdown_segments():
    text = "Intro\n\n```python\nx = 1\n```\n\nAfter\n~~~\nraw\n~~~\nend"
    assert split_segments(text) == [
        Segment("prose", "Intro"),
        Segment("code", "x = 1", "python"),
        Segment("prose", "After"),
        Segment("code", "raw", ""),
        Segment("prose", "end"),
    ]
    # a stream cut inside a fence shows the open block as code
    assert split_segments("a\n```js\nlet x") == [Segment("prose", "a"), Segment("code", "let x", "js", False)]
    assert split_segments("") == []


def test_the_one_self_test_builds_the_window_in_a_fresh_process(tmp_path):
    """``routedesk --self-test`` (desktop/selftest.py) is the only self-test; its window
    check builds every screen offscreen."""
    code = "import sys; from desktop.selftest import run_self_test; sys.exit(run_self_test(['qt', 'window']))"
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "ROUTEDESK_HOME": str(tmp_path),
           "OLLAMA_HOST": "127.0.0.1:9"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "main window" in r.stdout
    import desktop.ui.app

    assert not hasattr(desktop.ui.app, "self_test")


def test_no_qt_outside_ui():
    """Only desktop.ui imports Qt, pyqtgraph or qasync (the import-linter contract, checked here cheaply)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "desktop"
    bad = []
    for p in root.rglob("*.py"):
        if "ui" in p.relative_to(root).parts[:1]:
            continue
        src = p.read_text(encoding="utf-8")
        for mod in ("PySide6", "pyqtgraph", "qasync"):
            # the packaging self-test checks Qt on purpose (lazily)
            if (f"import {mod}" in src or f"from {mod}" in src) and p.name != "selftest.py":
                bad.append(f"{p.relative_to(root)}: {mod}")
    assert not bad, bad


def test_follows_a_palette_change(ui, qtbot, qapp):
    from PySide6.QtGui import QColor, QPalette

    controller, window = ui
    before = window.styleSheet()
    icon_before = window.new_action.icon().pixmap(16, 16).toImage()
    old = qapp.palette()
    dark = QPalette(old)
    for role, c in ((QPalette.ColorRole.Window, "#1f2328"), (QPalette.ColorRole.WindowText, "#e6edf3"),
                    (QPalette.ColorRole.Base, "#161b22"), (QPalette.ColorRole.Text, "#e6edf3")):
        dark.setColor(role, QColor(c))
    try:
        qapp.setPalette(dark)
        qtbot.waitUntil(lambda: window.styleSheet() != before)
        assert "#161b22" in window.styleSheet()  # the answer cards use the new base colour
        assert window.new_action.icon().pixmap(16, 16).toImage() != icon_before  # recoloured
    finally:
        qapp.setPalette(old)


def test_binding_refcount_guard():
    """PySide6 6.12.0 drops a reference to None on every void call and to True on every
    emit; the guard gives them a reserve so a long session can't abort the process."""
    from desktop.ui.qtcompat import binding_leaks, guard_singleton_refcounts

    guarded = guard_singleton_refcounts()
    leaks = binding_leaks()
    for name, obj in (("True", True), ("None", None)):
        if leaks[name]:
            assert name in guarded and sys.getrefcount(obj) > 2**39


def test_prewarm_loads_the_router_on_the_ui_thread(ui, qtbot):
    """The warm-up imports in a worker thread but must not build the router there (the
    Store's SQLite connection belongs to the UI thread): the learned router stays usable."""
    import pytest

    try:
        from desktop.router import load_router

        load_router()
    except Exception as exc:  # no weights in this checkout
        pytest.skip(f"no router weights: {exc}")
    controller, window = ui
    task = controller.spawn(controller.prewarm())
    qtbot.waitUntil(task.done, timeout=20000)
    assert task.exception() is None
    assert controller.engine.router is not None
