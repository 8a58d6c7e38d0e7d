"""UI benchmarks: start-up against a bare PySide6 window, idle memory, the worst
event-loop stall while an answer streams at ~1,000 tokens/s, and the time to open a
10,000-message conversation.

    python benchmarks/bench_ui.py [--json] [--runs 3]

Runs offscreen unless QT_QPA_PLATFORM is set (use xcb under Xvfb for real painting).
Everything uses a temporary ROUTEDESK_HOME and tests/simulator; nothing touches the
network or the user's data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BARE = r"""
import os, sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.setWindowTitle("bare"); w.resize(1100, 760); w.show()
def done():
    print("SHOWN", time.perf_counter() - t0, flush=True)
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
    print("RSS_KB", rss, flush=True)
    app.quit()
QTimer.singleShot(0, lambda: QTimer.singleShot(1000, done) if "--idle" in sys.argv else done())
app.exec()
"""

_APP = r"""
import os, sys, time
t0 = time.perf_counter()
sys.path.insert(0, ROOT)
from desktop.ui.app import make_app, make_loop, build_window
from desktop.engine.app import Engine
app = make_app([]); app.setQuitOnLastWindowClosed(False)
loop = make_loop(app)
from PySide6.QtCore import QTimer
engine = Engine.open()
c, w = build_window(engine); w.resize(1100, 760); w.show()
def done():
    print("SHOWN", time.perf_counter() - t0, flush=True)
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
    print("RSS_KB", rss, flush=True)
    w.closed.connect(app.quit); w.close()
QTimer.singleShot(0, lambda: QTimer.singleShot(1000, done) if "--idle" in sys.argv else done())
with loop:
    loop.run_forever()
""".replace("ROOT", repr(str(ROOT)))


def _run(src: str, *args: str) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["OLLAMA_HOST"] = "127.0.0.1:9"
    with tempfile.TemporaryDirectory() as home:
        env["ROUTEDESK_HOME"] = home
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", src, *args], env=env, capture_output=True, text=True, timeout=120)
        wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    vals = {}
    for line in out.stdout.splitlines():
        key, _, v = line.partition(" ")
        if key in ("SHOWN", "RSS_KB"):
            vals[key] = float(v)
    vals["wall"] = wall
    return vals


def bench_startup(runs: int) -> dict:
    bare = [_run(_BARE) for _ in range(runs)]
    app = [_run(_APP) for _ in range(runs)]
    b_wall = statistics.median(r["wall"] for r in bare)
    a_wall = statistics.median(r["wall"] for r in app)
    b_in = statistics.median(r["SHOWN"] for r in bare)
    a_in = statistics.median(r["SHOWN"] for r in app)
    return {
        "bare_window_process_to_shown_s": round(b_wall, 3),
        "routedesk_window_process_to_shown_s": round(a_wall, 3),
        "ratio_process": round(a_wall / b_wall, 2),
        "bare_window_import_to_shown_s": round(b_in, 3),
        "routedesk_window_import_to_shown_s": round(a_in, 3),
        "ratio_in_process": round(a_in / b_in, 2),
    }


def bench_idle_memory() -> dict:
    bare = _run(_BARE, "--idle")
    app = _run(_APP, "--idle")
    return {"bare_window_idle_rss_mb": round(bare["RSS_KB"] / 1024, 1),
            "routedesk_idle_rss_mb": round(app["RSS_KB"] / 1024, 1)}


def bench_in_process() -> dict:
    """Streaming stall and the 10k-message open, in one process with the simulator."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    import asyncio
    from decimal import Decimal

    from desktop.core.types import RouteDecision, Usage
    from desktop.engine.app import Engine
    from desktop.ui.app import build_window, make_app, make_loop
    from tests.simulator import Simulator
    from tests.ui.conftest import WEAK, MemoryKeyStore, configure

    app = make_app([])
    app.setQuitOnLastWindowClosed(False)
    loop = make_loop(app)
    result: dict = {}
    tokens = 3000

    async def main() -> None:
        from PySide6.QtCore import QTimer

        sim = Simulator(chunk_delay=0.001)  # one token per chunk: ~1,000 tokens/s
        sim.start()
        os.environ["OLLAMA_HOST"] = sim.base_url
        try:
            with tempfile.TemporaryDirectory() as home:
                engine = Engine.open(Path(home), keystore=MemoryKeyStore())
                configure(engine, sim)
                c, w = build_window(engine)
                w.resize(1100, 760)
                w.show()
                await asyncio.sleep(1.0)  # let the first health check finish
                sim.reply = lambda m: " ".join(f"tok{i}" for i in range(tokens))
                # event-loop stall: a 5 ms heartbeat timer, worst gap beyond its interval
                gaps: list[float] = []
                last = [time.perf_counter()]

                def beat() -> None:
                    now = time.perf_counter()
                    gaps.append(now - last[0])
                    last[0] = now

                hb = QTimer()
                hb.setInterval(5)
                hb.timeout.connect(beat)
                renders = [0]
                t0 = time.perf_counter()
                c.send("stream please", "weak")
                item = c.session.items[-1]
                aw = w.chat.widget_for(item)
                orig = aw.render_text

                def counted() -> None:
                    renders[0] += 1
                    orig()

                aw._flush.timeout.disconnect()
                aw._flush.timeout.connect(counted)
                last[0] = time.perf_counter()
                hb.start()
                while c.busy:
                    await asyncio.sleep(0.05)
                hb.stop()
                dt = time.perf_counter() - t0
                n = len(item.text.split())
                stalls = sorted(g - 0.005 for g in gaps)
                result["stream_tokens"] = n
                result["stream_tokens_per_s"] = round(n / dt)
                result["stream_worst_stall_ms"] = round(max(stalls) * 1000, 1)
                result["stream_p99_stall_ms"] = round(stalls[int(len(stalls) * 0.99) - 1] * 1000, 1)
                result["stream_renders"] = renders[0]

                # 10,000-message conversation
                cid = engine.store.create_conversation("Huge")
                route = RouteDecision("weak", 0.1, 0.5, "bench", "bench")
                body = "Some **markdown** with `code`:\n\n```python\nprint('x')\n```\n"
                for i in range(5000):
                    engine.store.add_user_message(cid, f"question {i}")
                    mid = engine.store.start_answer(cid, route=route, model=WEAK)
                    engine.store.finish_answer(mid, text=body + str(i), status="complete", model=WEAK,
                                               usage=Usage(10, 20), cost_usd=Decimal(0), ttft_ms=10.0, route=route)
                c.refresh_conversations()
                times = []
                for _ in range(3):
                    c.new_conversation()
                    await asyncio.sleep(0.05)
                    t = time.perf_counter()
                    c.open_conversation(cid)
                    times.append(time.perf_counter() - t)
                    await asyncio.sleep(0.05)
                result["open_10k_messages_ms"] = round(statistics.median(times) * 1000, 1)
                result["open_10k_rendered_widgets"] = w.chat.rendered_count()
                w.close()
                while not w._closed:
                    await asyncio.sleep(0.02)
                w.deleteLater()
                await asyncio.sleep(0.05)
        finally:
            sim.stop()

    with loop:
        loop.run_until_complete(main())
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = {"platform": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    res.update(bench_startup(args.runs))
    res.update(bench_idle_memory())
    res.update(bench_in_process())
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        width = max(len(k) for k in res)
        for k, v in res.items():
            print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
