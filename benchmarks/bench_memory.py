"""Memory and smoothness of the window, each figure beside a bare PySide6 window (or a bare
Qt widget) measured in the same run.

* idle: RSS / USS / PSS once the window is shown and its content filled, after 1.5 s (past
  every start-up timer), and which heavy libraries are loaded by then;
* after one streamed answer with the spend chart open, and the first use of what is loaded
  on demand: opening the chart (pyqtgraph, in a worker thread: click to the panel, click
  to its plots; and again with the pointer on the button 300 ms before the click), the
  first route (numpy, the router's weights), the first price (genai-prices' data);
* streaming at ``--rate`` tokens/s (simulator pacing): the event loop's worst lag (a 5 ms
  timer) and memory per token over further answers of the same length (USS after
  ``malloc_trim``, so that what glibc happens to keep of freed memory is not counted);
* scrolling a 2,000-line answer with code blocks: paint time per scroll step, beside a
  QPlainTextEdit with the same text;
* what each heavy import costs on its own (RSS delta and time, after Qt is loaded, with
  the window's ``qtcompat.read_sources_lightly``), and genai-prices and pyqtgraph as the
  window loads them (``pricing.load_price_data``, ``plotlib.import_pyqtgraph``).

    python benchmarks/bench_memory.py [--python /path/to/venv/bin/python] [--json]

``--python`` runs the windows in another interpreter (a ``pip install ".[ui]"`` venv: a
user's install, without the test tools the development venv also loads); this checkout is
put first on its path. Runs offscreen unless QT_QPA_PLATFORM is set. Everything uses a
temporary ROUTEDESK_HOME and tests/simulator (OpenAI's wire through an OpenAI-compatible
provider, so no key and no keyring are needed); nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("pyqtgraph", "genai_prices", "numpy", "httpx", "aiohttp", "keyring", "pydantic")

_MEM = r"""
def mem():
    st = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("Vm")}
    sm = {}
    for l in open("/proc/self/smaps_rollup"):
        parts = l.split()
        if len(parts) >= 3 and parts[-1] == "kB":
            sm[parts[0].rstrip(":")] = int(parts[1])
    uss = sm.get("Private_Clean", 0) + sm.get("Private_Dirty", 0)
    return {"rss_mb": st["VmRSS"] / 1024, "uss_mb": uss / 1024, "pss_mb": sm.get("Pss", 0) / 1024}
"""

_BARE = _MEM + r"""
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.setWindowTitle("bare"); w.resize(1100, 760); w.show()
def done():
    print("RESULT", json.dumps(mem()), flush=True)
    app.quit()
QTimer.singleShot(1500, done)
app.exec()
"""

_APP = _MEM + r"""
import json, os, statistics, sys, time
HEAVY = HEAVY_NAMES
mode = sys.argv[1]
from desktop.ui.app import launch
app, loop, w = launch([]); app.setQuitOnLastWindowClosed(False)
import asyncio
from PySide6.QtCore import QTimer
out = {}

def loaded():
    return [m for m in HEAVY if m in sys.modules]

async def until(cond, within=60.0):
    end = time.monotonic() + within
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)

def timed(obj, name, key):
    orig = getattr(obj, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            out.setdefault(key, round((time.perf_counter() - t) * 1000, 1))
    setattr(obj, name, wrapper)

#: a request the router sends to the strong (priced) model
PROMPT = ("Prove step by step that there are infinitely many primes, then write a Python function "
          "that implements a segmented sieve of Eratosthenes, analyse its complexity and explain the proof")

async def stream(c, tag):
    gaps, last = [], [time.perf_counter()]
    phase = []  # the answer's status at each beat: where a stall happened
    def beat():
        now = time.perf_counter(); gaps.append(now - last[0]); last[0] = now
        phase.append(item.status if item is not None else "sending")
    item = None
    hb = QTimer(); hb.setInterval(5); hb.timeout.connect(beat)
    t0 = time.perf_counter()
    last[0] = t0; hb.start()
    c.send(PROMPT + f" ({time.time()}){tag}", None)
    item = c.session.items[-1]
    await until(lambda: item.status == "streaming" or not c.busy)
    t_first = time.perf_counter()
    await until(lambda: not c.busy, within=300)
    t_end = time.perf_counter()
    hb.stop()
    n = len(item.text.split())
    by = {}
    for g, p in zip(gaps, phase):
        by[p] = max(by.get(p, 0.0), g)
    return {"tokens": n, "tokens_per_s": round(n / max(t_end - t_first, 1e-9)), "status": item.status,
            "choice": None if item.route is None else item.route.choice,
            "model": str(item.model), "cost": None if item.cost_usd is None else str(item.cost_usd),
            "price_source": item.price_source,
            "worst_lag_ms": round(max(g - 0.005 for g in gaps) * 1000, 1),
            "send_to_first_token_ms": round((t_first - t0) * 1000, 1),
            "worst_lag_by_status_ms": {k: round((v - 0.005) * 1000, 1) for k, v in by.items()},
            "p99_lag_ms": round(sorted(gaps)[int(len(gaps) * 0.99) - 1] * 1000 - 5, 1)}

def trim():
    import ctypes
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only
    except (OSError, AttributeError):
        pass

async def open_chart():
    # from the click to the panel's first paint, and to the first paint of its plots
    # (pyqtgraph loads in a worker thread the first time), with the loop's worst lag
    from desktop.ui.app import after_first_paint
    from desktop.ui import prefetch
    gaps, last = [], [time.perf_counter()]
    panel, plots, imported = [], [], []
    def beat():  # each gap with its end, to tell the stalls after pyqtgraph has loaded (building the plots)
        now = time.perf_counter(); gaps.append((now - last[0], now)); last[0] = now
        if not imported and prefetch.is_loaded(prefetch.PLOTTING):
            imported.append(now)
    hb = QTimer(); hb.setInterval(5); hb.timeout.connect(beat)
    t = time.perf_counter()
    last[0] = t; hb.start()
    w.chart_action.trigger()
    if not w.chart_action.isChecked():
        w.chart_action.trigger()
    after_first_paint(w.chart, lambda: panel.append(time.perf_counter()), fallback_ms=5000)
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication
    class PlotPaint(QObject):  # the first paint of a plot's viewport, wherever and whenever it is made
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint and not plots and type(obj.parent()).__name__ == "PlotWidget":
                QTimer.singleShot(0, lambda: plots or plots.append(time.perf_counter()))  # after it is flushed
            return False
    watcher = PlotPaint()
    QApplication.instance().installEventFilter(watcher)
    await until(lambda: panel and plots)
    QApplication.instance().removeEventFilter(watcher)
    hb.stop()
    out["first_chart_panel_ms"] = round((panel[0] - t) * 1000, 1)
    out["first_chart_open_ms"] = round((plots[0] - t) * 1000, 1)
    out["chart_open_worst_lag_ms"] = round(max(g - 0.005 for g, _ in gaps) * 1000, 1) if gaps else None
    after = [g for g, end in gaps if imported and end > imported[0]]
    out["chart_build_worst_lag_ms"] = round(max(after) * 1000 - 5, 1) if after else None
    out["chart_loaded"] = loaded()

async def main():
    await until(lambda: w.controller is not None)
    c = w.controller
    await asyncio.sleep(1.5)  # past the start-up timers (health check, warm-ups)
    out["idle"] = mem()
    out["idle_loaded"] = loaded()
    if mode == "idle":
        return
    if mode == "hover":
        # the pointer enters the chart's button, and clicks 300 ms later
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QApplication, QToolBar
        tb = w.findChildren(QToolBar)[0]
        QApplication.sendEvent(tb.widgetForAction(w.chart_action), QEvent(QEvent.Type.Enter))
        await asyncio.sleep(0.3)
    await open_chart()
    if mode == "hover":
        return
    eng = c.engine
    timed(eng, "decide", "first_route_ms")
    timed(eng.prices, "cost", "first_price_ms")
    first = await stream(c, "")
    out["first_answer"] = first
    await asyncio.sleep(1.0)
    import gc; gc.collect()
    out["after_answer"] = mem()
    out["after_answer_loaded"] = loaded()
    # long answers, each in a new conversation, then the window on an empty one: what
    # stays after they end (their text is in the database, not on screen)
    rows = []
    for _ in range(4):
        c.new_conversation()
        rows.append(await stream(c, " [long]"))
        await asyncio.sleep(0.3)
        c.new_conversation()
        await asyncio.sleep(0.3)  # deleteLater of the answer's widgets
        gc.collect()
        trim()  # what glibc keeps of freed memory varies by several MB from one answer to the next
        rows.append(mem())
    out["more_answers"] = rows

async def run():
    try:
        await main()
    finally:
        print("RESULT", json.dumps(out), flush=True)
        w.closed.connect(app.quit); w.close()

def start():
    asyncio.ensure_future(run())
QTimer.singleShot(0, start)
with loop:
    loop.run_forever()
""".replace("HEAVY_NAMES", repr(HEAVY))

_HEARTBEAT = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1100, 760); w.show()
gaps, last = [], [time.perf_counter()]
def beat():
    now = time.perf_counter(); gaps.append(now - last[0]); last[0] = now
hb = QTimer(); hb.setInterval(5); hb.timeout.connect(beat)
def done():
    hb.stop()
    gaps.sort()
    print("RESULT", json.dumps({"seconds": float(sys.argv[1]), "worst_lag_ms": round((gaps[-1] - 0.005) * 1000, 1),
                                "p99_lag_ms": round((gaps[int(len(gaps) * 0.99) - 1] - 0.005) * 1000, 1)}), flush=True)
    app.quit()
QTimer.singleShot(0, lambda: (last.__setitem__(0, time.perf_counter()), hb.start()))
QTimer.singleShot(int(float(sys.argv[1]) * 1000), done)
app.exec()
"""

_SETUP = r"""
import sys
from benchmarks.memory_keys import MemoryKeyStore
from desktop.core.types import ModelRef
from desktop.engine.app import Engine
url = sys.argv[1]
e = Engine.open(keystore=MemoryKeyStore())
e.store.add_provider("proxy", "openai-compatible", url)
e.store.add_provider("ollama", "ollama", sys.argv[2])
e.set_pair(ModelRef("proxy", "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
e.store.set_setting("ui.welcome_dismissed", True)
print("RESULT {}")
"""

_SCROLL = _MEM + r"""
import json, statistics, sys, time
from PySide6.QtWidgets import QApplication, QPlainTextEdit
from desktop.ui.app import make_app
app = make_app([])
from desktop.ui.chat_view import ChatView  # noqa: F401  (imports the widgets a chat uses)
from desktop.ui.rich_text import RichText
from PySide6.QtWidgets import QScrollArea

def answer(lines):
    out, i, n = [], 0, 0
    while n < lines:
        out.append(f"Paragraph {i}: some **bold** text, `inline code` and a [link](https://example.com).")
        out.append("")
        out.append("```python")
        for j in range(18):
            out.append(f"def f{i}_{j}(x):  # comment {j}")
        out.append("```")
        out.append("")
        out.append(f"- item {i}, with *emphasis*")
        out.append("")
        n += 25
        i += 1
    return "\n".join(out[:lines])

text = answer(2000)

def steps(area):
    area.resize(900, 700); area.show()
    for _ in range(5):
        app.processEvents()
    bar = area.verticalScrollBar()
    step = max(1, bar.singleStep() * 3)  # one wheel notch
    times = []
    v = 0
    while v < bar.maximum() and len(times) < 600:
        v += step
        bar.setValue(v)
        t = time.perf_counter()
        area.viewport().repaint()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"steps": len(times), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(len(times) * 0.99) - 1], 2), "max_ms": round(times[-1], 2)}

t = time.perf_counter()
rt = RichText()
rt.set_text(text)
render_ms = (time.perf_counter() - t) * 1000
area = QScrollArea(); area.setWidgetResizable(True); area.setWidget(rt)
res = {"lines": text.count("\n") + 1, "code_blocks": len(rt.code_blocks()), "render_ms": round(render_ms, 1)}
res["routedesk"] = steps(area)
plain = QPlainTextEdit(); plain.setPlainText(text)
res["bare"] = steps(plain)
print("RESULT", json.dumps(res), flush=True)
"""

_IMPORT = _MEM + r"""
import json, sys, time
from PySide6.QtWidgets import QApplication
from desktop.ui.qtcompat import read_sources_lightly
read_sources_lightly()  # as the window does (PySide6's per-import source check)
app = QApplication([])
import asyncio, ssl, sqlite3  # the stdlib the engine loads anyway
name, _, how = sys.argv[1].partition(":")
before = mem()
t = time.perf_counter()
if how == "window" and name == "genai_prices":
    from desktop.engine.pricing import load_price_data  # the engine is loaded before a price
    before = mem()
    t = time.perf_counter()
    load_price_data()
elif how == "window" and name == "pyqtgraph":
    import numpy  # loaded by the router before a chart is opened
    before = mem()
    t = time.perf_counter()
    from desktop.ui.plotlib import import_pyqtgraph, make_qt_types
    make_qt_types()
    import_pyqtgraph()
else:
    __import__(name)
extra = 0.0
if name == "genai_prices":  # its data are read on the first price
    from genai_prices import Usage, calc_price
    t1 = time.perf_counter()
    calc_price(Usage(input_tokens=1000, output_tokens=1000), model_ref="gpt-4o", provider_id="openai")
    extra = time.perf_counter() - t1
dt = time.perf_counter() - t
after = mem()
also = sorted(m for m in ("numpy", "pydantic", "httpcore", "anyio") if m in sys.modules and m != name)
print("RESULT", json.dumps({"rss_mb": after["rss_mb"] - before["rss_mb"], "uss_mb": after["uss_mb"] - before["uss_mb"],
                            "ms": dt * 1000, "first_use_ms": extra * 1000, "also": also}))
"""


def markdown_answer(tokens: int) -> str:
    """An answer of ``tokens`` words (the simulator sends one word per chunk) as a model
    writes one: paragraphs of about 60 words, a list, and a 10-line code block every
    fourth paragraph."""
    out: list[str] = []
    n = i = 0
    while n < tokens:
        para = " ".join(f"word{i}_{j}" + ("," if j % 9 == 8 else "") for j in range(60)) + "."
        out.append(f"**Step {i}.** " + para)
        n += 62
        i += 1
        if i % 4 == 0:
            code = "\n".join(f"    total_{i} = compute({j}, step={i})  # {j}" for j in range(10))
            out.append(f"```python\ndef step_{i}():\n{code}\n```")
            out.append(f"- first point {i}\n- second point {i}")
            n += 60
    return "\n\n".join(out)


def _child(python: str, src: str, *args: str, home: str | None = None, extra_env: dict | None = None) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
    env.setdefault("OLLAMA_HOST", "127.0.0.1:9")
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory() as tmp:
        env["ROUTEDESK_HOME"] = home or tmp
        out = subprocess.run([python, "-c", src, *args], env=env, capture_output=True, text=True, timeout=600,
                             cwd=str(ROOT))
    if out.returncode != 0 or "RESULT " not in out.stdout:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-3000:]}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _r(d: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def run(python: str, rate: int, tokens: int, answer_tokens: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.simulator import Simulator

    res: dict = {"python": python, "platform": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    res["bare_window"] = _r(_child(python, _BARE))
    res["idle"] = _r(_child(python, _APP, "idle"))
    sim = Simulator(chunk_delay=1.0 / rate if rate else 0.0)
    sim.start()
    try:
        def reply(messages: list[dict]) -> str:
            return markdown_answer(tokens if "[long]" in str(messages[-1].get("content")) else answer_tokens)

        sim.reply = reply
        with tempfile.TemporaryDirectory() as home:
            env = {"OLLAMA_HOST": sim.base_url}
            _child(python, _SETUP, sim.openai_url, sim.ollama_url, home=home, extra_env=env)
            res["bare_window_2"] = _r(_child(python, _BARE))
            res["answer"] = _child(python, _APP, "answer", home=home, extra_env=env)
            res["hover"] = _child(python, _APP, "hover", home=home, extra_env=env)
    finally:
        sim.stop()
    res["bare_heartbeat"] = _child(python, _HEARTBEAT, "8")  # as long as the long answers took, roughly
    res["scroll"] = _child(python, _SCROLL)
    res["imports"] = {name: _r(_child(python, _IMPORT, name)) for name in
                      ("numpy", "httpx", "genai_prices", "genai_prices:window", "pyqtgraph", "pyqtgraph:window",
                       "aiohttp", "keyring")}
    return res


def report(res: dict) -> list[tuple[str, str, str]]:
    """(figure, RouteDesk, baseline) rows."""
    rows = []
    bare = res["bare_window"]
    idle = res["idle"]["idle"]
    fmt = lambda m: f"RSS {m['rss_mb']:.1f} MB, USS {m['uss_mb']:.1f} MB"  # noqa: E731
    rows.append(("idle, window shown and filled (+1.5 s)", fmt(idle), "bare PySide6 window: " + fmt(bare)))
    rows.append(("  heavy modules loaded at idle", ", ".join(res["idle"]["idle_loaded"]) or "none", ""))
    a = res["answer"]
    rows.append(("after one streamed answer, chart open", fmt(a["after_answer"]),
                 "bare PySide6 window: " + fmt(res["bare_window_2"])))
    rows.append(("  heavy modules loaded then", ", ".join(a["after_answer_loaded"]), ""))
    rows.append(("first chart open: click to the plots' first paint", f"{a.get('first_chart_open_ms')} ms",
                 "goal < 150 ms"))
    rows.append(("  click to the panel's first paint (totals, 'Drawing the chart...')",
                 f"{a.get('first_chart_panel_ms')} ms, worst loop lag {a.get('chart_open_worst_lag_ms')} ms", ""))
    rows.append(("  worst loop lag once pyqtgraph has loaded (the plots being made)",
                 f"{a.get('chart_build_worst_lag_ms')} ms", ""))
    h = res.get("hover", {})
    rows.append(("  pointer on the button 300 ms before the click: click to plots",
                 f"{h.get('first_chart_open_ms')} ms, worst loop lag {h.get('chart_open_worst_lag_ms')} ms",
                 "goal < 150 ms"))
    rows.append(("first route (engine.decide, first call)", f"{a.get('first_route_ms')} ms", "goal < 150 ms"))
    rows.append(("first price (PriceBook.cost, first call)", f"{a.get('first_price_ms')} ms", "goal < 150 ms"))
    f = a["first_answer"]
    rows.append((f"stream {f['tokens']} tokens ({f['choice']}, {f['status']})",
                 f"{f['tokens_per_s']} tokens/s, worst loop lag {f['worst_lag_ms']} ms, p99 {f['p99_lag_ms']} ms",
                 "goal: lag < 50 ms"))
    hb = res["bare_heartbeat"]
    rows.append(("  the machine's own lag: a bare Qt window's loop, same timer",
                 f"worst {hb['worst_lag_ms']} ms, p99 {hb['p99_lag_ms']} ms over {hb['seconds']:.0f} s", "baseline"))
    rows.append(("  first answer, send to first token (warm-up included)", f"{f['send_to_first_token_ms']} ms",
                 f"a later answer: {a['more_answers'][0]['send_to_first_token_ms']} ms"))
    more = a["more_answers"]
    streams, mems = more[0::2], more[1::2]
    for s in streams:
        rows.append((f"  long answer, {s['tokens']} tokens", f"{s['tokens_per_s']} tokens/s, worst lag "
                     f"{s['worst_lag_ms']} ms", ""))
    for s in streams:
        rows.append(("    worst lag by the answer's status", ", ".join(f"{k} {v} ms" for k, v in
                                                                  s["worst_lag_by_status_ms"].items()), ""))
    toks = sum(s["tokens"] for s in streams[1:])
    grow = (mems[-1]["uss_mb"] - mems[0]["uss_mb"]) * 1024 * 1024
    rows.append((f"memory left per token after long answers 2-{len(mems)} ended (USS)",
                 f"{grow / max(toks, 1):.0f} bytes/token", "0 would be no growth"))
    rows.append(("  USS after each long answer, on an empty conversation",
                 ", ".join(f"{m['uss_mb']:.1f}" for m in mems) + " MB", ""))
    s = res["scroll"]
    rd, bare = s["routedesk"], s["bare"]
    rows.append((f"scroll {s['lines']}-line answer, {s['code_blocks']} code blocks: paint per wheel step",
                 f"p50 {rd['p50_ms']} ms, p99 {rd['p99_ms']} ms, max {rd['max_ms']} ms ({rd['steps']} steps)",
                 f"QPlainTextEdit, same text: p50 {bare['p50_ms']} ms, p99 {bare['p99_ms']} ms; 60 fps = 16.7 ms"))
    rows.append(("  rendering that answer once", f"{s['render_ms']} ms", ""))
    for key, d in res["imports"].items():
        name, _, how = key.partition(":")
        also = f" (with {', '.join(d['also'])})" if d["also"] else ""
        if how == "window":
            name += " as the window loads it" + (" (numpy loaded before)" if name == "pyqtgraph" else
                                                 " (the engine loaded before)")
            also = ""
        first = f", first price {d['first_use_ms']:.0f} ms" if d.get("first_use_ms") else ""
        cost = f"+{d['rss_mb']:.1f} MB RSS, +{d['uss_mb']:.1f} MB USS, {d['ms']:.0f} ms{first}"
        rows.append((f"import {name}{also}", cost, "after QApplication"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter of a user install (default: this one)")
    ap.add_argument("--rate", type=int, default=5000, help="simulator pacing, tokens/s (0: as fast as it can)")
    ap.add_argument("--tokens", type=int, default=10000, help="length of the long answers (streaming, memory)")
    ap.add_argument("--answer-tokens", type=int, default=1000, help="length of the first answer")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.python, args.rate, args.tokens, args.answer_tokens)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    rows = report(res)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"python: {res['python']}, platform {res['platform']}, date {when}")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
