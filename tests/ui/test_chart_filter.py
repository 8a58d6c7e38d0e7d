"""The spend chart filtered by who spent: all, this app (the window), or one local
endpoint client; the curves and the totals line follow the choice."""

from __future__ import annotations

from decimal import Decimal

from desktop.core.types import ChatMessage, ModelRef, Usage
from desktop.engine.endpoint_recorder import EndpointRecorder
from desktop.storage import ClientStore

REF = ModelRef("openai", "gpt-4o-mini")


def _book(engine, client_name: str | None, cost: str) -> None:
    """One answer's ledger entry, booked as the engine books it: through the endpoint's
    recorder for a client, straight to the store for the window."""
    usage = Usage(100, 50)
    if client_name is None:
        engine.store.add_ledger_entry(None, REF, usage, Decimal(cost), "bundled", Decimal(cost) * 10, "weak")
        return
    rec = ClientStore(engine.store).get(client_name)
    assert rec is not None
    EndpointRecorder(engine.store, rec, [ChatMessage("user", "hi")]).add_ledger_entry(
        None, REF, usage, Decimal(cost), "bundled", Decimal(cost) * 10, "weak")


def test_the_chart_shows_one_clients_spend_when_chosen(app_window, make_engine, qtbot):
    engine = make_engine()
    engine.clients.add("vscode")
    engine.clients.add("notebook")
    _book(engine, None, "0.001")
    _book(engine, "vscode", "0.02")
    _book(engine, "vscode", "0.03")
    _book(engine, "notebook", "0.4")
    controller, window = app_window(engine)
    window.toggle_chart(True)
    chart = window.chart
    qtbot.waitUntil(lambda: chart.share_plot is not None)
    controller.refresh_spend()
    labels = [chart.client.itemText(i) for i in range(chart.client.count())]
    assert labels == ["All", "This app", "notebook", "vscode"]

    def shown() -> tuple[int, float]:
        _, spent = chart.spent_curve.getData()
        return len(chart.series.points), round(float(spent[-1]), 6)

    assert shown() == (4, 0.451)
    assert "<b>4</b> answers" in chart.totals.text() and "$0.4510" in chart.totals.text()
    chart.client.setCurrentIndex(labels.index("vscode"))
    assert shown() == (2, 0.05)
    assert "<b>2</b> answers" in chart.totals.text() and "$0.0500" in chart.totals.text()
    chart.client.setCurrentIndex(labels.index("This app"))
    assert shown() == (1, 0.001)
    chart.client.setCurrentIndex(labels.index("notebook"))
    assert shown() == (1, 0.4)
    chart.range.setCurrentIndex(2)  # 30 days: the client filter stays
    assert shown() == (1, 0.4) and chart.client.currentText() == "notebook"
    chart.client.setCurrentIndex(0)
    assert shown() == (4, 0.451)


def test_a_client_added_while_the_window_runs_appears_in_the_filter(ui, qtbot):
    controller, window = ui
    window.toggle_chart(True)
    chart = window.chart
    qtbot.waitUntil(lambda: chart.share_plot is not None)
    assert [chart.client.itemText(i) for i in range(chart.client.count())] == ["All", "This app"]
    controller.engine.clients.add("script")
    controller.refresh_spend()
    assert chart.client.itemText(2) == "script"
    chart.client.setCurrentIndex(2)
    assert chart.series.points == [] and "No answers for script" in chart.totals.text()
