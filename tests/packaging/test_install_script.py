"""packaging/linux/install.sh in a temporary HOME: install, update, uninstall.

The tarball's layout is rebuilt here with a stand-in app (a shell script), so this runs
in a second without PyInstaller; packaging/ci-build.sh runs the real one.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "packaging" / "linux" / "install.sh"
SIZES = (16, 32, 48, 128, 256, 512)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the install script is for Linux")


def make_bundle(where: Path, marker: str = "v1") -> Path:
    """An unpacked tarball: RouteDesk/RouteDesk, share/..., install.sh."""
    bundle = where / "RouteDesk-0.1.0-linux-x86_64"
    app = bundle / "RouteDesk"
    (app / "_internal").mkdir(parents=True)
    exe = app / "RouteDesk"
    exe.write_text(f"#!/bin/sh\necho RouteDesk {marker} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (app / "_internal" / "marker.txt").write_text(marker)
    apps = bundle / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "routedesk.desktop", apps / "routedesk.desktop")
    for size in SIZES:
        d = bundle / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        d.mkdir(parents=True)
        shutil.copy(ROOT / "resources" / "icons" / f"routedesk-{size}.png", d / "routedesk.png")
    scalable = bundle / "share" / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "icons" / "routedesk.svg", scalable / "routedesk.svg")
    shutil.copy(INSTALL, bundle / "install.sh")
    return bundle


def run(bundle: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ROUTEDESK_"))}
    env["HOME"] = str(home)
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.run(["bash", str(bundle / "install.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def desktop_entry(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            out[k] = v
    return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home dir"  # a space, as real home folders sometimes have
    h.mkdir()
    return h


def test_installs_app_menu_entry_icons_and_command(tmp_path: Path, home: Path) -> None:
    bundle = make_bundle(tmp_path / "unpacked")
    r = run(bundle, home)
    assert r.returncode == 0, r.stderr
    app = home / ".local" / "opt" / "routedesk"
    assert (app / "RouteDesk").is_file() and os.access(app / "RouteDesk", os.X_OK)
    assert (app / "_internal" / "marker.txt").read_text() == "v1"

    link = home / ".local" / "bin" / "routedesk"
    assert link.is_symlink() and link.resolve() == (app / "RouteDesk").resolve()
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True).stdout.strip()
    assert version == "RouteDesk v1 --version"

    entry_file = home / ".local" / "share" / "applications" / "routedesk.desktop"
    entry = desktop_entry(entry_file)
    assert entry["Exec"] == f'"{app / "RouteDesk"}"'  # absolute and quoted: the home has a space
    assert entry["TryExec"] == str(app / "RouteDesk")
    assert entry["Icon"] == "routedesk" and entry["Type"] == "Application" and entry["Name"] == "RouteDesk"
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(entry_file)], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr

    icons = home / ".local" / "share" / "icons" / "hicolor"
    for size in SIZES:
        assert (icons / f"{size}x{size}" / "apps" / "routedesk.png").is_file()
    assert (icons / "scalable" / "apps" / "routedesk.svg").is_file()
    assert "installed" in r.stdout


def test_update_replaces_the_app_and_uninstall_keeps_user_data(tmp_path: Path, home: Path) -> None:
    assert run(make_bundle(tmp_path / "v1", "v1"), home).returncode == 0
    user_data = home / ".local" / "share" / "RouteDesk"
    user_data.mkdir(parents=True)
    (user_data / "routedesk.sqlite3").write_text("conversations")

    r = run(make_bundle(tmp_path / "v2", "v2"), home)
    assert r.returncode == 0, r.stderr
    app = home / ".local" / "opt" / "routedesk"
    assert (app / "_internal" / "marker.txt").read_text() == "v2"
    assert not list(app.parent.glob("routedesk.*")), "no leftover staging folders"

    r = run(make_bundle(tmp_path / "again"), home, "--uninstall")
    assert r.returncode == 0, r.stderr
    assert not app.exists()
    assert not (home / ".local" / "bin" / "routedesk").exists()
    assert not (home / ".local" / "share" / "applications" / "routedesk.desktop").exists()
    assert not list((home / ".local" / "share" / "icons").rglob("routedesk.*"))
    assert (user_data / "routedesk.sqlite3").read_text() == "conversations"
    assert "kept" in r.stdout


def test_prefix_and_refusing_a_foreign_folder(tmp_path: Path, home: Path) -> None:
    bundle = make_bundle(tmp_path / "unpacked")
    target = tmp_path / "apps" / "rd"
    r = run(bundle, home, "--prefix", str(target))
    assert r.returncode == 0, r.stderr
    assert (target / "RouteDesk").is_file()
    entry = desktop_entry(home / ".local" / "share" / "applications" / "routedesk.desktop")
    assert entry["TryExec"] == str(target / "RouteDesk")

    foreign = tmp_path / "not-routedesk"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("mine")
    r = run(bundle, home, "--prefix", str(foreign))
    assert r.returncode != 0
    assert "isn't a RouteDesk app folder" in r.stderr
    assert (foreign / "precious.txt").read_text() == "mine"


def test_run_outside_a_bundle_says_what_to_do(tmp_path: Path, home: Path) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(INSTALL, lone / "install.sh")
    r = run(lone, home)
    assert r.returncode == 1
    assert "unpacked RouteDesk tarball" in r.stderr
    assert not (home / ".local").exists()
