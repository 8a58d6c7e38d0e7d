"""A plain `pip install .` (not editable) carries the icons and router weights: the
installed package finds them without the source checkout, so routing stays learned and
the window's icons render."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_the_resources(tmp_path):
    pytest.importorskip("setuptools")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = tmp_path.glob("routedesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("desktop/_resources/router/weights.npz", "desktop/_resources/router/manifest.json",
                   "desktop/_resources/router/NOTICE", "desktop/_resources/icons/routedesk.svg",
                   "desktop/_resources/icons/send.svg", "desktop/_resources/routedesk.desktop"):
        assert needed in names, needed


def test_installed_layout_is_found_without_a_checkout(tmp_path, monkeypatch):
    """resources_dir() falls back to desktop/_resources when there is no resources/ beside desktop/."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(ROOT / "desktop", site / "desktop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "resources", site / "desktop" / "_resources")
    code = ("from desktop.core.resources import resources_dir; from desktop.router import load_router;"
            "print(resources_dir()); print(load_router().score_text('hi').value)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    where, score = proc.stdout.split()
    assert Path(where) == site / "desktop" / "_resources"
    assert 0.0 < float(score) < 1.0
