"""Chart, sidebar (search, rename, delete with undo), health and pull, first run."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.ui.models import ProviderHealth
from tests.ui.conftest import WEAK


def _ask(controller, qtbot, text, mode=None):
    assert controller.send(text, mode)
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    return controller.session.items[-1]


def test_chart_updates_when_an_answer_completes(ui, qtbot):
    controller, window = ui
    window.toggle_chart(True)
    chart = window.chart
    qtbot.waitUntil(lambda: chart.share_plot is not None)
    assert chart.series.points == []
    _ask(controller, qtbot, "first", "weak")
    assert len(chart.series.points) == 1
    _ask(controller, qtbot, "second", "strong")
    assert [p.choice for p in chart.series.points] == ["fixed", "fixed"]
    xs, ys = chart.share_curve.getData()
    assert list(ys) == [0.0, 50.0]  # "Always strong" counts as sent to strong
    sx, spent = chart.spent_curve.getData()
    _, always = chart.always_curve.getData()
    assert spent[-1] <= always[-1]  # the weak answer was free; always-strong would have paid
    assert always[-1] > 0
    assert "saved" in chart.totals.text()
    text = chart.show_point(1)  # what hovering shows
    assert "answer 2" in text and "$" in text
    chart.range.setCurrentIndex(2)  # 30 days
    assert controller.spend.range == "30d" and len(chart.series.points) == 2
    window.toggle_chart(False)
    assert not chart.isVisible()


def test_the_chart_makes_its_plots_one_per_event_loop_turn(ui, qtbot, monkeypatch):
    """A plot takes 20-40 ms to make the first time: both in one go stalled the window for
    60-120 ms at the chart's first opening. They appear together, once both exist."""
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer

    _controller, window = ui
    turns = [0]
    ticker = QTimer()
    ticker.setInterval(0)  # fires once per event-loop turn
    ticker.timeout.connect(lambda: turns.__setitem__(0, turns[0] + 1))
    ticker.start()
    made = []
    make = pg.PlotWidget.__init__

    def counted(self, *args, **kwargs):
        shown = [w.isVisible() for w in window.chart.findChildren(pg.PlotWidget)]
        made.append((turns[0], shown))
        make(self, *args, **kwargs)

    monkeypatch.setattr(pg.PlotWidget, "__init__", counted)
    window.toggle_chart(True)
    qtbot.waitUntil(lambda: window.chart.share_plot is not None)
    ticker.stop()
    assert len(made) == 2
    (first_turn, _), (second_turn, shown_then) = made
    assert first_turn < second_turn
    assert shown_then == [False]  # the first plot waited for the second
    plots = (window.chart.share_plot, window.chart.spend_plot)
    assert all(p.isVisible() for p in plots)
    assert not window.chart.drawing.isVisible()


def test_chart_share_counts_strong_routes(ui, qtbot):
    controller, window = ui
    window.toggle_chart(True)
    qtbot.waitUntil(lambda: window.chart.share_plot is not None)
    a = _ask(controller, qtbot, "short")
    b = _ask(controller, qtbot, "Explain in depth, with proofs, " * 40)
    _, ys = window.chart.share_curve.getData()
    strong = [a.route.choice == "strong", b.route.choice == "strong"]
    assert list(ys) == [100.0 * strong[0], 50.0 * (strong[0] + strong[1])]


def test_search_finds_messages_in_other_conversations(ui, qtbot, sim):
    controller, window = ui
    sim.reply = lambda m: "Bananas are berries."
    _ask(controller, qtbot, "tell me about zanzibar spices")
    first = controller.session.conversation_id
    controller.new_conversation()
    _ask(controller, qtbot, "something else")
    assert controller.session.conversation_id != first
    assert [r.id for r in controller.conversations.rows][:2] == [controller.session.conversation_id, first]
    qtbot.keyClicks(window.sidebar.search, "zanzibar")
    qtbot.waitUntil(lambda: len(controller.conversations.rows) == 1, timeout=3000)
    row = controller.conversations.rows[0]
    assert row.id == first and "zanzibar" in row.snippet.lower()
    idx = controller.conversations.index(0)
    window.sidebar.list.clicked.emit(idx)
    assert controller.session.conversation_id == first
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: len(controller.conversations.rows) == 2, timeout=3000)


def test_new_rename_delete_undo(ui, qtbot):
    controller, window = ui
    _ask(controller, qtbot, "hello")
    cid = controller.session.conversation_id
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert controller.session.conversation_id is None and controller.session.items == []
    controller.rename_conversation(cid, "Greetings")
    assert controller.conversations.rows[0].title == "Greetings"
    controller.open_conversation(cid)
    window.sidebar.delete_current()
    assert controller.conversations.rows == []
    assert window.undo_btn.isVisible()
    qtbot.mouseClick(window.undo_btn, Qt.MouseButton.LeftButton)
    assert [r.id for r in controller.conversations.rows] == [cid]
    assert controller.session.conversation_id == cid


def test_health_panel_over_a_fed_model(ui, qtbot):
    controller, window = ui
    from desktop.ui.health import HealthPanel

    panel = HealthPanel(controller)
    qtbot.addWidget(panel)
    controller.health.set_all([
        ProviderHealth("openai", "openai", "down", "OpenAI has a problem", "OpenAI rejected the key.",
                       "Paste a new key in Settings."),
        ProviderHealth("ollama", "ollama", "ok", "Ollama is working", models=["llama3.2:latest"], local=True),
    ], ["llama3.2:latest"])
    assert panel.rows.count() == 2
    assert panel.local_list.item(0).text() == "llama3.2:latest"
    tip = window.health_indicator.toolTip()
    assert "rejected the key" in tip and "Paste a new key" in tip


def test_check_now_and_pull_a_model(ui, qtbot, sim):
    controller, window = ui
    window.open_health()
    panel = window._health.panel
    qtbot.waitUntil(lambda: not controller.health.checking and "openai" in controller.health.providers, timeout=10000)
    assert controller.health.providers["openai"].status == "ok"
    assert "llama3.2:latest" in controller.health.local_models
    panel.pull_name.setText("tinyllama")
    seen = []
    controller.health.pull_progress.connect(seen.append)
    qtbot.mouseClick(panel.pull_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].done, timeout=10000)
    assert seen[-1].error is None
    assert any(p.total for p in seen)  # real progress figures from Ollama's stream
    assert panel.progress.value() == 100


def test_first_run_welcome(make_engine, app_window, qtbot, sim, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    engine = make_engine(configured=False)
    controller, window = app_window(engine)
    welcome = window.welcome
    assert window.center.currentWidget() is welcome
    qtbot.waitUntil(lambda: welcome.use_local_btn.isVisible(), timeout=10000)
    assert "Ollama" in welcome.ollama_label.text() and "llama3.2:latest" in welcome.ollama_label.text()
    assert welcome.findChild(type(welcome.pull_btn), "import_openai") is not None
    qtbot.mouseClick(welcome.use_local_btn, Qt.MouseButton.LeftButton)
    assert controller.routing.weak == WEAK
    assert window.center.currentWidget() is window.chat_column
    _ask(controller, qtbot, "hi")
    assert controller.session.items[-1].model == WEAK
    assert engine.keystore.get("openai") is None  # the env key was offered, not used


def test_first_run_without_ollama(make_engine, app_window, qtbot, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    engine = make_engine(configured=False)
    controller, window = app_window(engine)
    welcome = window.welcome
    qtbot.waitUntil(lambda: "isn't running" in welcome.ollama_label.text(), timeout=15000)
    assert not welcome.use_local_btn.isVisible()
    assert welcome.add_key_btn.isVisible()
    qtbot.mouseClick(welcome.add_key_btn, Qt.MouseButton.LeftButton)
    assert window._settings.isVisible()


def test_background_health_monitor_feeds_the_indicator(ui, qtbot, sim):

    controller, window = ui
    assert controller.start_health_monitor(local_interval=0.2, interval=0.2, backoff_base=0.2, jitter=0)
    qtbot.waitUntil(lambda: controller.health.providers.get("openai") is not None
                    and controller.health.providers["openai"].status == "ok", timeout=10000)
    qtbot.waitUntil(lambda: "llama3.2:latest" in controller.health.local_models, timeout=10000)
    # the key stops working: the next probe turns the dot red, with the fix on hover
    sim.valid_keys = {"sk-other"}
    qtbot.waitUntil(lambda: controller.health.providers["openai"].status == "down", timeout=10000)
    tip = window.health_indicator.toolTip()
    assert "openai" in tip and "Fix:" in tip
    sim.valid_keys = {"sk-test-key"}
    # Check now asks the monitor
    controller.spawn(controller.check_health())
    qtbot.waitUntil(lambda: controller.health.providers["openai"].status == "ok", timeout=10000)


def test_pull_of_an_unknown_model_says_so(ui, qtbot, sim):
    controller, window = ui
    sim.ollama_registry = {"llama3.2:1b"}
    seen = []
    controller.health.pull_progress.connect(seen.append)
    controller.spawn(controller.pull_model("no-such-model"))
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].done, timeout=10000)
    assert seen[-1].error and "no-such-model" in seen[-1].error


def test_the_window_shows_the_month_spend_that_spend_json_gives(ui, qtbot, home):
    """One definition of this month's spend: the routing bar's budget line and
    ``routedesk spend --json`` (month_usd) read the same engine service."""
    import json
    import os
    import subprocess
    import sys
    from decimal import Decimal
    from pathlib import Path

    controller, window = ui
    item = _ask(controller, qtbot, "what does this cost", "strong")
    assert item.cost_usd is not None and item.cost_usd > 0
    controller.set_policy("budget", monthly_usd=Decimal("5"))
    bar = window.routing_bar
    qtbot.waitUntil(lambda: "spent this month" in bar.budget_used.text())
    env = dict(os.environ, ROUTEDESK_HOME=str(home))
    r = subprocess.run([sys.executable, "-m", "desktop", "spend", "--json"], env=env, capture_output=True,
                       text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    month = Decimal(json.loads(r.stdout)["month_usd_exact"])
    assert month == item.cost_usd == controller.month_spend()
    assert bar.budget_used.text() == f"${float(month):.2f} spent this month"
