"""Run every benchmark and print one table: each figure beside its baseline from the same run,
with the machine and the date.

    python benchmarks/run_all.py [--quick] [--json] [--only engine,router,...]

Each ``benchmarks/bench_*.py`` runs as its own subprocess (a fresh interpreter, nothing
shared), one after another so they don't compete for the CPU. Known scripts are asked for
``--json`` (bench_engine prints text, which is parsed); a script added later without an
adapter still runs and its numbers are listed as they come. A script that fails or times
out gets a row saying so and the rest still run. The UI benchmarks need PySide6 and run
offscreen unless QT_QPA_PLATFORM is set.

The table is Markdown, so it can be pasted into the README as printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# --- the machine ------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                  text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5).stdout
            return int(out) / 1024 ** 3
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    if sys.platform == "win32":
        try:
            import ctypes

            class MEMORYSTATUSEX(ctypes.Structure):
                _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                            ("sullAvailExtendedVirtual", ctypes.c_ulonglong)]

            st = MEMORYSTATUSEX()
            st.dwLength = ctypes.sizeof(st)
            ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st))  # type: ignore[attr-defined]
            return st.ullTotalPhys / 1024 ** 3
        except Exception:
            pass
    return None


def machine() -> dict:
    ram = ram_gb()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": None if ram is None else round(ram, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- running one benchmark --------------------------------------------------------------------

def run(script: Path, args: list[str], timeout: float) -> tuple[str | None, str, float]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - t
    took = time.perf_counter() - t
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return None, " / ".join(tail) or f"exit {p.returncode}", took
    return p.stdout, "", took


def _json(out: str):
    start = out.find("{")
    return json.loads(out[start:])


# --- adapters: a script's output -> rows (figure, value, baseline, baseline is) -----------------

def ms(x) -> str:
    return "–" if x is None else (f"{x:.3f} ms" if x < 1 else f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms")


def rows_engine(out: str) -> list[tuple]:
    def line(label):
        m = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)", out, re.M)
        return (float(m.group(1)), float(m.group(2))) if m else (None, None)

    bare, eng = line("bare httpx stream"), line("RouteDesk engine")
    m = re.search(r"([+-][\d.]+) ms median of paired runs", out)
    paired = f" (paired overhead {m.group(1)} ms)" if m else ""
    return [
        ("Engine time to first token, median", ms(eng[0]) + paired, ms(bare[0]), "bare httpx stream, same simulator"),
        ("Engine time to first token, p90", ms(eng[1]), ms(bare[1]), "bare httpx stream"),
    ]


def rows_router(out: str) -> list[tuple]:
    d = _json(out)["per_prompt"]
    rows = []
    for n in sorted(d, key=int):
        r = d[n]
        rows.append((f"Router decision, {int(n):,} chars (p50 / p99)",
                     f"{ms(r['decision_p50_ms'])} / {ms(r['decision_p99_ms'])}",
                     f"{ms(r['score_only_p50_ms'])} / {ms(r['score_only_p99_ms'])}",
                     "score only, no reasons or policy"))
    fb = _json(out).get("with_500_ratings_2000_chars")
    if fb:
        r = d["2000"]
        rows.append(("Router decision, 2,000 chars, 500 ratings remembered (p50 / p99)",
                     f"{ms(fb['decision_p50_ms'])} / {ms(fb['decision_p99_ms'])}",
                     f"{ms(r['decision_p50_ms'])} / {ms(r['decision_p99_ms'])}", "no feedback, same run"))
    return rows


def rows_ui(out: str) -> list[tuple]:
    d = _json(out)
    return [
        ("UI stream rendering, sustained", f"{d['stream_tokens_per_s']:,} tokens/s ({d['stream_tokens']:,} tokens)",
         "~1,000 tokens/s", "what the simulator sends (1 ms between tokens)"),
        ("UI worst event-loop stall while streaming", ms(d["stream_worst_stall_ms"]), ms(d["stream_p99_stall_ms"]),
         "p99 stall of the same run (5 ms heartbeat)"),
        ("Window start, process to shown", f"{d['routedesk_window_process_to_shown_s']:.2f} s "
         f"(×{d['ratio_process']})", f"{d['bare_window_process_to_shown_s']:.2f} s", "bare PySide6 window"),
        ("Window start, import to shown", f"{d['routedesk_window_import_to_shown_s']:.2f} s "
         f"(×{d['ratio_in_process']})", f"{d['bare_window_import_to_shown_s']:.2f} s", "bare PySide6 window"),
        ("Idle memory (RSS, 1 s after shown)", f"{d['routedesk_idle_rss_mb']} MB", f"{d['bare_window_idle_rss_mb']} MB",
         "bare PySide6 window"),
        ("Open a 10,000-message conversation (window)", ms(d["open_10k_messages_ms"]), None, ""),
    ]


def rows_search(out: str) -> list[tuple]:
    d = _json(out)
    rows = [
        (f"Search over {d['messages']:,} messages, p50 / p99",
         f"{ms(d['search_fts_p50_ms'])} / {ms(d['search_fts_p99_ms'])}",
         f"{ms(d['search_like_p50_ms'])} / {ms(d['search_like_p99_ms'])}", "SQL LIKE scan, same data, unranked"),
        ("", "", f"{ms(d['search_memory_p50_ms'])} / {ms(d['search_memory_p99_ms'])}",
         "substring scan of the texts in memory"),
    ]
    for q, r in d.get("per_query", {}).items():
        rows.append((f"  search {q!r} ({r['hits']} hits)", ms(r["fts_ms"]),
                     f"{ms(r['like_ms'])} LIKE, {ms(r['memory_ms'])} memory", "medians, same data"))
    rows.append((f"Open a {d['open_messages']:,}-message conversation (store), p50",
                 ms(d["open_store_p50_ms"]), ms(d["open_bare_select_p50_ms"]), "bare SELECT … fetchall()"))
    return rows


def rows_frozen(out: str) -> list[tuple]:
    d = _json(out)
    res = {r.get("name"): r for r in d.get("results", [])}
    bare = next((r for n, r in res.items() if n and "bare" in n.lower()), None)
    rows = []
    for n, r in res.items():
        if r is bare:
            continue
        val = r.get("median_s", r.get("median"))
        base = None if bare is None else bare.get("median_s", bare.get("median"))
        rows.append((f"Time to window (self-test): {n}", f"{val} s" if val is not None else json.dumps(r)[:60],
                     f"{base} s" if base is not None else None, "bare PySide6 window, median"))
    return rows


def rows_memory(out: str) -> list[tuple]:
    """bench_memory's own report rows (figure, RouteDesk, baseline)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_memory import report

    return [(fig, val, base or None, "") for fig, val, base in report(_json(out))]


def rows_generic(out: str) -> list[tuple]:
    try:
        d = _json(out)
    except ValueError:
        return [("(output)", out.strip().splitlines()[-1][:80] if out.strip() else "", None, "")]
    rows = []

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}{k}." if not prefix else f"{prefix}{k}.", x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append((prefix.rstrip("."), f"{v}", None, ""))

    walk("", d)
    return rows[:12]


BENCHES = {
    # name: (script, normal args, quick args, adapter, needs Qt, timeout s)
    "engine": ("bench_engine.py", ["--n", "300"], ["--n", "60"], rows_engine, False, 600),
    "router": ("bench_router.py", ["--json", "--runs", "3000"], ["--json", "--runs", "400"], rows_router, False, 900),
    "ui": ("bench_ui.py", ["--json", "--runs", "3"], ["--json", "--runs", "1"], rows_ui, True, 900),
    "frozen": ("bench_frozen.py", ["--json"], ["--json", "--runs", "3"], rows_frozen, True, 900),
    "memory": ("bench_memory.py", ["--json"], ["--json", "--tokens", "3000"], rows_memory, True, 1200),
    "search": ("bench_search.py", ["--json", "--runs", "200"], ["--json", "--runs", "60"], rows_search, False, 900),
}


def has_qt() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("PySide6") is not None
    except (ImportError, ValueError):
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (same figures, wider error bars)")
    ap.add_argument("--json", action="store_true", help="print the rows and the machine as JSON")
    ap.add_argument("--only", help="comma-separated: " + ",".join(BENCHES))
    args = ap.parse_args(argv)

    # in the order of the list (engine, router, UI, window, memory, open, search), then any new ones
    order = [spec[0] for spec in BENCHES.values()]
    scripts = sorted(HERE.glob("bench_*.py"),
                     key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    known = {spec[0]: name for name, spec in BENCHES.items()}
    wanted = set(args.only.split(",")) if args.only else None
    qt = has_qt()
    info = machine()
    table: list[tuple] = []
    timings = []
    for script in scripts:
        name = known.get(script.name, script.stem.removeprefix("bench_"))
        if wanted is not None and name not in wanted:
            continue
        spec = BENCHES.get(name)
        if spec is None:  # a new script without an adapter: run it, list what it prints
            spec = (script.name, ["--json"], ["--json"], rows_generic, False, 900)
        _, normal, quick, adapter, needs_qt, timeout = spec
        if needs_qt and not qt:
            table.append((f"{script.name}", "skipped: PySide6 is not installed", None, ""))
            continue
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        out, err, took = run(script, quick if args.quick else normal, timeout)
        timings.append((script.name, took))
        if out is None:
            table.append((f"{script.name}", f"FAILED: {err[:100]}", None, ""))
            continue
        try:
            table += adapter(out)
        except Exception as exc:  # an output format changed: say so, keep the rest
            table.append((f"{script.name}", f"unreadable output ({type(exc).__name__}: {exc})"[:100], None, ""))

    # the window's 10k open beside the store's read of the same size, when both ran
    store_open = next((r for r in table if r[0].startswith("Open a 10,000-message conversation (store)")), None)
    for i, r in enumerate(table):
        if r[0].startswith("Open a 10,000-message conversation (window)"):
            table[i] = (r[0], r[1], store_open[1] if store_open else None,
                        "the store reading 10,000 messages (bench_search)" if store_open else "")
    if args.json:
        print(json.dumps({"machine": info, "quick": args.quick,
                          "rows": [dict(zip(("figure", "routedesk", "baseline", "baseline_is"), r, strict=False))
                                   for r in table],
                          "seconds": dict(timings)}, indent=2))
        return 0
    ram = "?" if info["ram_gb"] is None else f"{info['ram_gb']} GB"
    print(f"Machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), {ram} RAM; "
          f"{info['os']}; Python {info['python']}")
    print(f"Date: {info['date']}{'  (quick run)' if args.quick else ''}")
    print()
    print("| Figure | RouteDesk | Baseline (same run) | Baseline is |")
    print("|---|---|---|---|")
    for fig, val, base, what in table:
        print(f"| {fig} | {val} | {base if base is not None else '–'} | {what} |")
    print()
    print("Ran: " + ", ".join(f"{n} {t:.0f} s" for n, t in timings), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
