"""``routedesk --self-test`` from source, its output format, resource_path, the icons.

The frozen self-test runs in packaging/ci-build.sh; this proves the same checks pass
from a checkout, quickly. The checks that need Qt skip without it (the core suite has
no Qt); the keyring needs a Secret Service (scripts/with-keyring.sh).
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import selftest
from desktop.core import resources
from desktop.core.resources import resource_path

ROOT = Path(__file__).resolve().parents[2]
HAS_QT = importlib.util.find_spec("PySide6") is not None and importlib.util.find_spec("qasync") is not None


def _lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith(("ok  ", "FAIL "))]


@pytest.mark.skipif(not HAS_QT, reason="needs the UI extras (PySide6, qasync)")
def test_self_test_passes_from_source(keystore, tmp_path: Path) -> None:
    """The whole self-test in a subprocess, as `routedesk --self-test` runs it."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ROUTEDESK_HOME=str(tmp_path / "user-home"))
    env.pop("ROUTEDESK_SELFTEST_ONLY", None)
    r = subprocess.run([sys.executable, "-m", "desktop", "--self-test"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = _lines(r.stdout)
    assert len(lines) == len(selftest.CHECKS)
    assert all(ln.startswith("ok  ") for ln in lines), r.stdout
    assert "one routed message" in r.stdout and "main window" in r.stdout
    assert "local endpoint on http://127.0.0.1:" in r.stdout  # on the window's (qasync) loop
    assert "Self-test passed" in r.stdout
    # the user's data folder was never created: the self-test works in a temp home
    assert not (tmp_path / "user-home").exists()


def test_checks_without_qt_pass_in_process(capsys) -> None:
    code = selftest.run_self_test(["resources", "prices", "tls", "sqlite", "message"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(_lines(out)) == 5 and all(ln.startswith("ok  ") for ln in _lines(out))
    assert "SQLite" in out and "FTS5" in out and "routed message" in out


def test_the_endpoint_check_serves_a_tool_with_a_token_and_stops(capsys) -> None:
    """Started on a free port of 127.0.0.1, /v1/models and one streamed completion through
    the engine to the self-test's own server, billed to the client, then stopped."""
    code = selftest.run_self_test(["endpoint"])
    out = capsys.readouterr().out
    assert code == 0, out
    [line] = _lines(out)
    assert line.startswith("ok  local endpoint on http://127.0.0.1:")
    assert "-> selftest/selftest-" in line and "billed to its client token, stopped" in line


def test_a_failing_check_prints_a_plain_reason_and_exits_1(monkeypatch, capsys) -> None:
    def broken(ctx):
        raise selftest.CheckFailed("the thing is missing (/nowhere)")

    def crashing(ctx):
        raise KeyError("boom")

    checks = {"a": ("thing A", broken), "b": ("thing B", crashing), "c": ("thing C", lambda ctx: "C works")}
    monkeypatch.setattr(selftest, "CHECKS", checks)
    assert selftest.run_self_test() == 1
    out = capsys.readouterr().out
    assert "FAIL thing A: the thing is missing (/nowhere)" in out
    assert "FAIL thing B: KeyError: 'boom'" in out
    assert "ok  C works" in out
    assert "2 of 3 checks failed" in out


def test_only_runs_a_subset_and_rejects_unknown_names(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ROUTEDESK_SELFTEST_ONLY", "sqlite")
    assert selftest.run_self_test() == 0
    assert len(_lines(capsys.readouterr().out)) == 1
    monkeypatch.setenv("ROUTEDESK_SELFTEST_ONLY", "sqlite,nonsense")
    assert selftest.run_self_test() == 2
    assert "nonsense" in capsys.readouterr().err


def test_keyring_round_trip_uses_a_separate_service(keystore, capsys) -> None:
    assert selftest.run_self_test(["keyring"]) == 0
    out = capsys.readouterr().out
    assert selftest.SELFTEST_SERVICE in out and "secure" in out
    assert keystore.service != selftest.SELFTEST_SERVICE


def test_self_test_leaves_the_environment_as_it_was(monkeypatch) -> None:
    monkeypatch.setenv("ROUTEDESK_HOME", "/somewhere/else")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert selftest.run_self_test(["sqlite"]) == 0
    assert os.environ["ROUTEDESK_HOME"] == "/somewhere/else"
    assert "OLLAMA_HOST" not in os.environ


def test_resource_path_from_source_frozen_and_override(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROUTEDESK_RESOURCES", raising=False)
    assert resource_path("icons", "routedesk.svg") == ROOT / "resources" / "icons" / "routedesk.svg"
    assert resource_path("icons", "routedesk.svg").is_file()
    assert not resources.is_frozen()

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resource_path("router") == tmp_path / "resources" / "router"

    monkeypatch.setenv("ROUTEDESK_RESOURCES", str(tmp_path / "elsewhere"))
    assert resource_path("a", "b") == tmp_path / "elsewhere" / "a" / "b"


def test_icons_for_windows_and_macos_are_well_formed(tmp_path: Path) -> None:
    make = runpy.run_path(str(ROOT / "packaging" / "make_icons.py"))
    assert make["main"]([str(tmp_path)]) == 0
    ico = (tmp_path / "routedesk.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(make["ICO_SIZES"]))
    for i in range(count):
        w, h, _c, _r, planes, bpp, size, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i: 22 + 16 * i])
        assert planes == 1 and bpp == 32
        assert ico[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size <= len(ico)
    icns = (tmp_path / "routedesk.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    pos, kinds = 8, []
    while pos < len(icns):
        kind, length = icns[pos:pos + 4], struct.unpack(">I", icns[pos + 4:pos + 8])[0]
        assert icns[pos + 8:pos + 16] == b"\x89PNG\r\n\x1a\n"
        kinds.append(kind)
        pos += length
    assert pos == len(icns) and b"ic10" not in kinds and b"ic09" in kinds


def test_desktop_file_and_spec_are_consistent() -> None:
    entry = (ROOT / "resources" / "routedesk.desktop").read_text()
    assert "Icon=routedesk\n" in entry and "Exec=routedesk\n" in entry
    spec = (ROOT / "packaging" / "routedesk.spec").read_text()
    compile(spec, "routedesk.spec", "exec")
    assert "onefile" not in spec.lower() or "never one-file" in spec
    for size in selftest.APP_ICON_SIZES:
        assert (ROOT / "resources" / "icons" / f"routedesk-{size}.png").is_file()


def test_a_hung_check_ends_the_self_test_with_a_plain_reason(tmp_path: Path) -> None:
    """The watchdog: a check that never returns can't hang CI."""
    script = (
        "import time, desktop.selftest as st\n"
        "st.CHECKS = {'slow': ('a stuck thing', lambda ctx: time.sleep(60))}\n"
        "raise SystemExit(st.run_self_test())\n"
    )
    env = dict(os.environ, ROUTEDESK_SELFTEST_TIMEOUT="1")
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "FAIL a stuck thing: still not done after 1 s" in r.stdout
