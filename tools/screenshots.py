"""Render RouteDesk's key screens to PNGs under shots/ (widget.grab()).

    Xvfb :99 & DISPLAY=:99 QT_QPA_PLATFORM=xcb python tools/screenshots.py [--dark] [--scale 2]

Screens: the first-run welcome (nothing configured; Ollama found through the provider
simulator, a key in the environment), a conversation with code and a fallback card, an
error card, an answer cut at its length limit, settings with a provider's models and prices,
and the spend chart. Everything
runs against a temporary ROUTEDESK_HOME and tests/simulator, never the user's data or
network.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CODE_REPLY = """Sure. Here is a small function that reads a file and counts words:

```python
from collections import Counter

def top_words(path: str, n: int = 5) -> list[tuple[str, int]]:
    \"\"\"The n most common words in the file.\"\"\"
    with open(path, encoding="utf-8") as f:
        words = f.read().lower().split()
    return Counter(words).most_common(n)  # ties keep file order
```

Call it with `top_words("notes.txt")`. It returns **pairs** of word and count:

1. it reads the whole file at once,
2. lower-cases everything,
3. and counts with `Counter`.
"""


async def until(cond, within: float = 10.0) -> None:
    """Re-check ``cond`` while the window runs, until it holds (or ``within`` seconds pass)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#1f2328", QPalette.ColorRole.WindowText: "#e6edf3",
        QPalette.ColorRole.Base: "#161b22", QPalette.ColorRole.AlternateBase: "#1f2328",
        QPalette.ColorRole.Text: "#e6edf3", QPalette.ColorRole.Button: "#2d333b",
        QPalette.ColorRole.ButtonText: "#e6edf3", QPalette.ColorRole.Highlight: "#2f81f7",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2d333b",
        QPalette.ColorRole.ToolTipText: "#e6edf3", QPalette.ColorRole.PlaceholderText: "#7d8590",
        QPalette.ColorRole.Link: "#58a6ff",
    }
    for role, c in roles.items():
        p.setColor(role, QColor(c))
    return p


async def main(out: Path, dark: bool) -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from benchmarks.memory_keys import MemoryKeyStore
    from desktop.engine.app import Engine
    from desktop.ui.app import build_window
    from tests.simulator import Fault, Simulator
    from tests.ui.conftest import configure

    app = QApplication.instance()
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    suffix = "-dark" if dark else ""
    saved: list[Path] = []

    def shot(widget, name: str) -> None:
        path = out / f"{name}{suffix}.png"
        widget.grab().save(str(path))
        saved.append(path)
        print(path)

    sim = Simulator(chunk_delay=0.0)
    sim.start()
    os.environ["OLLAMA_HOST"] = sim.base_url
    os.environ["OPENAI_API_KEY"] = "sk-from-the-environment"
    try:
        # 1. first run: nothing configured
        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine.open(Path(tmp), keystore=MemoryKeyStore())
            c, w = build_window(engine)
            w.resize(1100, 720)
            w.show()
            await until(lambda: "ollama" in c.health.providers and not c.health.checking)
            await asyncio.sleep(0.1)
            shot(w, "01-first-run")
            w.close()
            await until(lambda: w._closed)

        del os.environ["OPENAI_API_KEY"]
        # 2. a conversation with code, then a fallback, then an error card
        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine.open(Path(tmp), keystore=MemoryKeyStore())
            configure(engine, sim)
            c, w = build_window(engine)
            w.resize(1200, 820)
            w.show()
            sim.reply = lambda messages: CODE_REPLY
            c.send("Write a Python function that returns the most common words in a file")
            await until(lambda: not c.busy)
            sim.reply = lambda messages: "Paris is the capital of France."
            sim.inject(Fault("quota_exhausted", protocol="openai"))
            c.set_mode("strong")
            c.send("What is the capital of France?")
            await until(lambda: not c.busy)
            c.set_mode("auto")
            await asyncio.sleep(0.2)
            w.chat.scroll_to_bottom()
            await asyncio.sleep(0.1)
            shot(w, "02-conversation-fallback")
            # open "why?" on the fallback answer
            for aw in w.chat.answer_widgets():  # the routed answer (score, threshold, reasons) and the fallback
                aw._on_link("why")
            await asyncio.sleep(0.1)
            w.chat._stick = False
            w.chat.verticalScrollBar().setValue(w.chat.widget_for(c.session.items[1]).y() - 10)
            await asyncio.sleep(0.1)
            shot(w, "03-why-details")
            w.chat.scroll_to_bottom()
            await asyncio.sleep(0.1)
            shot(w, "03b-why-fallback")

            # every model fails -> error card
            sim.inject(Fault("auth_invalid", protocol="openai", times=None))
            sim.inject(Fault("model_not_found", protocol="ollama", times=None))
            c.send("And of Germany?")
            await until(lambda: not c.busy)
            sim.clear_faults()
            await asyncio.sleep(0.2)
            w.chat.scroll_to_bottom()
            await asyncio.sleep(0.1)
            shot(w, "04-error-card")

            # an answer cut at its length limit: kept, tagged "Cut off", a Continue button
            c.new_conversation()
            c.set_mode("strong")
            sim.reply = lambda messages: CODE_REPLY
            sim.inject(Fault("length", protocol="openai", after_chunks=40))
            c.send("Write a Python function that returns the most common words in a file")
            await until(lambda: not c.busy)
            c.set_mode("auto")
            sim.reply = lambda messages: "Paris is the capital of France."
            await asyncio.sleep(0.2)
            w.chat.scroll_to_bottom()
            await asyncio.sleep(0.1)
            shot(w, "04b-cut-answer")

            # 3. chart with a few answers
            for i in range(6):
                text = ("Explain in depth " * 60) if i % 3 == 0 else f"quick question {i}"
                c.send(text)
                await until(lambda: not c.busy)
            # two tools through the local endpoint, booked as the endpoint books them
            from decimal import Decimal

            from desktop.core.types import ChatMessage, ModelRef, Usage
            from desktop.engine.endpoint_recorder import EndpointRecorder
            from desktop.storage import ClientStore

            for name, n in (("vscode", 3), ("notebook", 1)):
                engine.clients.add(name)
                rec = ClientStore(engine.store).get(name)
                for k in range(n):
                    usage = Usage(1200 + 300 * k, 400)
                    cost, _price = engine.cost_of(ModelRef("openai", "gpt-4o"), usage)
                    EndpointRecorder(engine.store, rec, [ChatMessage("user", "hi")]).add_ledger_entry(
                        None, ModelRef("openai", "gpt-4o"), usage, cost or Decimal(0), "bundled", cost, "strong")
            # demo data only: spread the answers over the last hours, as a real day would be
            import sqlite3
            from datetime import datetime, timedelta

            db = sqlite3.connect(str(Path(tmp) / "routedesk.sqlite3"))
            ids = [r[0] for r in db.execute("SELECT id FROM ledger ORDER BY id")]
            start = datetime.now(UTC) - timedelta(minutes=25 * len(ids))
            for i, lid in enumerate(ids):
                when = (start + timedelta(minutes=25 * i + 7 * (i % 3))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                db.execute("UPDATE ledger SET created_at = ? WHERE id = ?", (when, lid))
            db.commit()
            db.close()
            w.toggle_chart(True)
            while w.chart.share_plot is None:  # noqa: ASYNC110 (pyqtgraph loads in a worker thread)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            shot(w, "05-chart")
            shot(w.chart, "06-chart-panel")
            w.chart.client.setCurrentIndex(w.chart.client.findText("vscode"))
            await asyncio.sleep(0.3)
            shot(w.chart, "06b-chart-one-client")
            w.chart.client.setCurrentIndex(0)

            # 4. settings
            w.open_settings("openai")
            dlg = w._settings
            dlg.form.test()
            await until(lambda: dlg.form.test_btn.isEnabled() and dlg.form.models)
            await asyncio.sleep(0.1)
            shot(dlg, "07-settings")
            dlg.tabs.setCurrentWidget(dlg.endpoint_panel)
            await asyncio.sleep(0.1)
            shot(dlg, "07b-settings-endpoint")
            dlg.tabs.setCurrentIndex(0)
            dlg.select_provider("ollama")  # a local server: a longer first-token default
            await asyncio.sleep(0.1)
            shot(dlg, "07c-settings-ollama")
            dlg.close()

            # 5. health
            w.open_health()
            await until(lambda: not c.health.checking and c.health.providers)
            await asyncio.sleep(0.1)
            shot(w._health, "08-health")
            w._health.close()
            w.close()
            await until(lambda: w._closed)
    finally:
        sim.stop()
    return saved


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "shots"))
    ap.add_argument("--dark", action="store_true", help="force a dark palette (Fusion)")
    ap.add_argument("--scale", default=None, help="QT_SCALE_FACTOR, e.g. 2 for 200 %%")
    args = ap.parse_args(argv)
    if args.scale:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desktop.ui.app import make_app, make_loop

    app = make_app([])
    app.setQuitOnLastWindowClosed(False)
    loop = make_loop(app)
    with tempfile.TemporaryDirectory() as home:
        os.environ["ROUTEDESK_HOME"] = home
        with loop:
            loop.run_until_complete(main(out, args.dark))
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
