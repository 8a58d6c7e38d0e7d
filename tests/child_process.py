"""One way to run a test's driver script in a fresh Python process (fresh imports, fresh
PySide6 types) and read back what it found: the last line of its output that is JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def driver_findings(driver: str, *args: str, **env: str) -> dict:
    """Run ``driver`` with ``args`` under this checkout (``env`` added to the environment)."""
    proc = subprocess.run([sys.executable, "-c", driver, *args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1])
