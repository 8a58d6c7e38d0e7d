"""Importing a 100,000-message ChatGPT export, beside ``json.load`` of the same file.

    python benchmarks/bench_import.py [--messages 100000] [--zip] [--json]

A temporary ``conversations.json`` is written in ChatGPT's export format (2,500
conversations of 40 visible messages, each tree with its hidden root and system nodes,
markdown and code in the answers). Then, each in a fresh process so their peak memory
(``ru_maxrss``) is their own, on the same file in the same run:

* baseline: ``json.load`` of the file (parse only: nothing converted, nothing stored);
* ``import_history`` into an empty data folder: parse, convert, write every message
  and its full-text index in one transaction.

The goal is an import under 20 s with memory bounded by the largest conversation, not
the file: the import's peak should stay well under the baseline's. Wall seconds depend
on what else the machine runs; CPU seconds (user + system of that process) much less.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine.export_factory import write_chatgpt_export  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
what, path, db = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if what == "json.load":
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    extra = {{"conversations": len(data)}}
else:
    from desktop.engine.history_import import import_history
    from desktop.storage import Store
    with Store(db) as store:
        s = import_history(store, path)
    extra = {{"conversations": s.conversations_imported, "messages": s.messages_imported}}
seconds = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
cpu = ru.ru_utime + ru.ru_stime
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "cpu_s": cpu, "peak_mb": peak_kb / 1024, **extra}}))
"""


def _child(what: str, path: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT)), what, str(path), str(db)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _idle_mb() -> float:
    code = (f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); import desktop.engine.history_import;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--zip", action="store_true", help="import the .zip ChatGPT sends instead of the bare JSON")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="routedesk-bench-import-") as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / "conversations.json"
        t = time.perf_counter()
        n_convs = write_chatgpt_export(src, args.messages)
        write_s = time.perf_counter() - t
        size_mb = src.stat().st_size / 1e6
        target = src
        if args.zip:
            target = tmpdir / "chatgpt-export.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.write(src, "conversations.json")
        base = _child("json.load", src, tmpdir / "unused.sqlite3")
        imp = _child("import", target, tmpdir / "routedesk.sqlite3")
        idle = _idle_mb()
        res = {
            "messages": args.messages,
            "conversations": n_convs,
            "file_mb": round(size_mb, 1),
            "source": "zip" if args.zip else "json",
            "write_export_s": round(write_s, 2),
            "json_load_s": round(base["seconds"], 2),
            "json_load_cpu_s": round(base["cpu_s"], 2),
            "json_load_peak_mb": round(base["peak_mb"], 1),
            "import_s": round(imp["seconds"], 2),
            "import_cpu_s": round(imp["cpu_s"], 2),
            "import_peak_mb": round(imp["peak_mb"], 1),
            "python_with_modules_mb": round(idle, 1),
            "imported_messages": imp.get("messages"),
            "messages_per_s": round(imp.get("messages", 0) / imp["seconds"]),
            "goal_s": 20,
        }
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"import of a {res['messages']:,}-message ChatGPT export ({res['conversations']:,} conversations, "
          f"{res['file_mb']} MB {res['source']})")
    print(f"{'':<44}{'seconds':>10}{'CPU s':>10}{'peak MB':>10}")
    print(f"{'baseline: json.load (parse only)':<44}{res['json_load_s']:>10.2f}{res['json_load_cpu_s']:>10.2f}"
          f"{res['json_load_peak_mb']:>10.1f}")
    label = "import_history (parse, convert, store, index)"
    print(f"{label:<44}{res['import_s']:>10.2f}{res['import_cpu_s']:>10.2f}{res['import_peak_mb']:>10.1f}")
    print(f"{'python + RouteDesk modules, idle':<44}{'':>20}{res['python_with_modules_mb']:>10.1f}")
    print(f"{res['messages_per_s']:,} messages/s; goal: under {res['goal_s']} s "
          f"({'met' if res['import_s'] < res['goal_s'] else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
