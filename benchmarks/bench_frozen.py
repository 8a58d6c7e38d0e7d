"""Time to window: the frozen app vs the same code from source vs a bare PySide6 window.

    python benchmarks/bench_frozen.py [--runs 7] [--app dist/RouteDesk/RouteDesk] [--json]

Each run starts a new process and stops the clock when it prints that its window is
shown. RouteDesk runs as ``--self-test`` with ``ROUTEDESK_SELFTEST_ONLY=qt,window``:
QApplication, the engine on a temporary data folder, the real main window, shown and
painted (no keyring, no network); the clock stops at its first paint, before the
self-test goes on to open the settings, health and chart screens. The bare window is a QWidget in a plain Python
(the floor any PySide6 app pays). Qt runs offscreen unless QT_QPA_PLATFORM is set, so
the figures leave out the display server; the first run is reported apart (cold disk
cache), the rest as a median.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv)
w = QWidget(); w.resize(900, 600); w.setWindowTitle("bare"); w.show()
app.processEvents()
print("window shown", flush=True)
"""


_SHOWN = re.compile(r"([0-9.]+) s after the process started")


def time_to_line(cmd: list[str], marker: str, env: dict[str, str], timeout: float = 60) -> float:
    """Seconds from start until the window was shown: the self-test's own figure when it
    gives one (Linux: measured from the process's start time when the window first
    painted, before it opens its other screens), else until a stdout line contains
    ``marker``. The process is then reaped."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    found = None
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if marker in line and found is None:
                found = time.perf_counter() - t0
                shown = _SHOWN.search(line)
                if shown:
                    found = float(shown.group(1))
            if line.startswith("FAIL "):
                raise RuntimeError(f"{' '.join(cmd)}: {line.strip()}")
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if found is None:
        raise RuntimeError(f"{' '.join(cmd)} never printed {marker!r} (exit {proc.returncode})")
    return found


def measure(name: str, cmd: list[str], marker: str, env: dict[str, str], runs: int) -> dict:
    times = [time_to_line(cmd, marker, env) for _ in range(runs)]
    warm = times[1:] or times
    return {"name": name, "first_s": round(times[0], 3), "median_s": round(statistics.median(warm), 3),
            "min_s": round(min(warm), 3), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    exe = "RouteDesk.exe" if os.name == "nt" else "RouteDesk"
    ap.add_argument("--app", default=str(ROOT / "dist" / "RouteDesk" / exe),
                    help="the frozen executable (default: dist/RouteDesk/RouteDesk)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["ROUTEDESK_SELFTEST_ONLY"] = "qt,window"
    results = [
        measure("bare PySide6 window (source)", [sys.executable, "-c", BARE], "window shown", env, args.runs),
        measure("RouteDesk window (source)", [sys.executable, "-m", "desktop", "--self-test"], "main window", env,
                args.runs),
    ]
    if Path(args.app).is_file():
        results.append(measure("RouteDesk window (frozen)", [args.app, "--self-test"], "main window", env, args.runs))
    else:
        print(f"(no frozen app at {args.app}: build it with bash packaging/build.sh)", file=sys.stderr)

    if args.json:
        print(json.dumps({"platform": env["QT_QPA_PLATFORM"], "results": results}, indent=2))
        return 0
    print(f"Time to window, QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}, {args.runs} runs each:")
    print(f"  {'':32} {'first':>7} {'median':>7} {'min':>7}")
    for r in results:
        print(f"  {r['name']:32} {r['first_s']:6.2f}s {r['median_s']:6.2f}s {r['min_s']:6.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
