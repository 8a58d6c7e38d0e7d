"""UI benchmarks: start-up against a bare PySide6 window, idle memory, the worst
event-loop stall while an answer streams at ~1,000 tokens/s, and the time to open a
10,000-message conversation.

Start-up runs the window as ``routedesk`` does (``desktop.ui.app.launch``): "shown" is the
window's first paint (its frame: title, toolbar, restored layout, "Loading..."; the bare
window's "shown" is its first event-loop turn after show()), "filled" is the content
attached over the opened engine. Process times are measured from just before the
child process is spawned (CLOCK_MONOTONIC is shared between processes).

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
t0_mono = time.monotonic()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.setWindowTitle("bare"); w.resize(1100, 760); w.show()
def done():
    print("SHOWN", time.perf_counter() - t0, flush=True)
    print("SHOWN_AT", time.monotonic(), flush=True)
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
    print("RSS_KB", rss, flush=True)
    app.quit()
QTimer.singleShot(0, lambda: QTimer.singleShot(1000, done) if "--idle" in sys.argv else done())
app.exec()
"""

_APP = r"""
import os, sys, time
t0 = time.perf_counter()
t0_mono = time.monotonic()
sys.path.insert(0, ROOT)
from desktop.ui.app import launch
app, loop, w = launch([]); app.setQuitOnLastWindowClosed(False)
from PySide6.QtCore import QTimer
def filled():
    print("SHOWN", w.shown_at - t0_mono, flush=True)
    print("SHOWN_AT", w.shown_at, flush=True)
    print("FILLED", time.perf_counter() - t0, flush=True)
    print("FILLED_AT", time.monotonic(), flush=True)
    QTimer.singleShot(1000 if "--idle" in sys.argv else 0, done)
def done():
    rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
    print("RSS_KB", rss, flush=True)
    w.closed.connect(app.quit); w.close()
w.ready.connect(lambda: QTimer.singleShot(0, filled))  # after the attached content is laid out
with loop:
    loop.run_forever()
""".replace("ROOT", repr(str(ROOT)))


#: Bytecode for the child processes, as an installed app has it (pip compiles on install);
#: None: as the environment says (PYTHONDONTWRITEBYTECODE=1 compiles every module every run).
PYCACHE: str | None = None


def _run(src: str, *args: str) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env["OLLAMA_HOST"] = "127.0.0.1:9"
    with tempfile.TemporaryDirectory() as home:
        env["ROUTEDESK_HOME"] = home
        t_mono = time.monotonic()
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", src, *args], env=env, capture_output=True, text=True, timeout=120)
        wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    vals = {}
    for line in out.stdout.splitlines():
        key, _, v = line.partition(" ")
        if key in ("SHOWN", "FILLED", "RSS_KB"):
            vals[key] = float(v)
        elif key in ("SHOWN_AT", "FILLED_AT"):
            vals[key.replace("_AT", "_PROC")] = float(v) - t_mono
    vals["wall"] = wall
    return vals


def bench_startup(runs: int) -> dict:
    if PYCACHE is not None:  # warm the bytecode cache
        _run(_BARE), _run(_APP)
    bare, app = [], []
    for _ in range(runs):  # interleaved, so a busy moment of the machine hits both alike
        bare.append(_run(_BARE))
        app.append(_run(_APP))
    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    b_proc, a_proc, a_fill = med(bare, "SHOWN_PROC"), med(app, "SHOWN_PROC"), med(app, "FILLED_PROC")
    b_in, a_in = med(bare, "SHOWN"), med(app, "SHOWN")
    return {
        "bare_window_process_to_shown_s": round(b_proc, 3),
        "routedesk_window_process_to_shown_s": round(a_proc, 3),
        "ratio_process": round(a_proc / b_proc, 2),
        "routedesk_window_process_to_filled_s": round(a_fill, 3),
        "ratio_process_filled": round(a_fill / b_proc, 2),
        "bare_window_import_to_shown_s": round(b_in, 3),
        "routedesk_window_import_to_shown_s": round(a_in, 3),
        "ratio_in_process": round(a_in / b_in, 2),
        "bare_process_lifetime_s": round(med(bare, "wall"), 3),
        "routedesk_process_lifetime_s": round(med(app, "wall"), 3),
    }


def bench_idle_memory() -> dict:
    bare = _run(_BARE, "--idle")
    app = _run(_APP, "--idle")
    return {"bare_window_idle_rss_mb": round(bare["RSS_KB"] / 1024, 1),
            "routedesk_idle_rss_mb": round(app["RSS_KB"] / 1024, 1)}


async def until(cond, within: float = 30.0) -> None:
    """Re-check ``cond`` while the window runs, until it holds (or ``within`` seconds pass)."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


def bench_in_process() -> dict:
    """Streaming stall and the 10k-message open, in one process with the simulator."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    import asyncio
    from decimal import Decimal

    from benchmarks.memory_keys import MemoryKeyStore
    from desktop.core.types import RouteDecision, Usage
    from desktop.engine.app import Engine
    from desktop.ui.app import build_window, make_app, make_loop
    from tests.simulator import Simulator
    from tests.ui.conftest import WEAK, configure

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
                # the first health check is over before anything is measured
                await until(lambda: "ollama" in c.health.providers and not c.health.checking)
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
                await until(lambda: not c.busy, within=120)
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
                await until(lambda: w._closed)
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
    ap.add_argument("--no-bytecode", action="store_true",
                    help="start-up without a bytecode cache when PYTHONDONTWRITEBYTECODE is set "
                         "(default: cached, as installed)")
    args = ap.parse_args(argv)
    global PYCACHE
    res = {"platform": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    pycache = None if args.no_bytecode else tempfile.TemporaryDirectory(prefix="bench-pycache-")
    PYCACHE = None if pycache is None else pycache.name
    res["bytecode_cache"] = pycache is not None
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
