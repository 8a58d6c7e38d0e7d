"""The window's frame is shown first and the engine's content attached after its first
paint (desktop.ui.app.launch). Driven in a child process, as `routedesk` starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DRIVER = r"""
import gc, json, sys
from desktop.ui.app import launch
from PySide6.QtCore import QTimer

errors = []

def on_error(title, text):  # the window closes right after, which may end the loop
    errors.append([title, text])
    print(json.dumps({"attached": False, "error": [title, text], "gc_enabled": gc.isenabled()}), flush=True)

app, loop, window = launch([], on_error=on_error)
seen = {"frame_before_engine": "desktop.engine.app" not in sys.modules,
        "painted": window.shown_at is not None, "title": window.windowTitle()}
ON_FIRST_NEED = ("keyring", "httpx._main", "httpcore")
window.ready.connect(lambda: seen.__setitem__("at_ready", sorted(m for m in ON_FIRST_NEED if m in sys.modules)))

def check():
    if window.controller is not None or errors:
        seen["attached"] = window.controller is not None
        seen["error"] = errors[0] if errors else None
        seen["gc_enabled"] = gc.isenabled()  # paused for the start-up only
        print(json.dumps(seen), flush=True)
        app.quit()
    else:
        QTimer.singleShot(20, check)

QTimer.singleShot(0, check)
with loop:
    loop.run_forever()
"""


def run_driver(home: Path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ROUTEDESK_HOME=str(home), OLLAMA_HOST="127.0.0.1:9")
    proc = subprocess.run([sys.executable, "-c", DRIVER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1])


def test_frame_is_painted_before_the_engine_loads_then_content_attaches(tmp_path):
    seen = run_driver(tmp_path / "home")
    assert seen["title"] == "RouteDesk"
    assert seen["painted"] and seen["frame_before_engine"]
    assert seen["attached"] and seen["error"] is None
    assert seen["gc_enabled"]


def test_content_attaches_without_the_keyring_the_http_client_or_httpx_command_line(tmp_path):
    """None of them is needed to show the conversations: the keyring is read when a key is,
    the HTTP client is built for the first probe or send, and httpx's own command-line
    client (click, rich, pygments when installed) is never used by the window."""
    seen = run_driver(tmp_path / "home")
    assert seen["attached"]
    assert seen["at_ready"] == []


def test_an_unusable_data_folder_is_reported_not_crashed(tmp_path):
    bad = tmp_path / "home"
    bad.write_text("not a folder")
    seen = run_driver(bad)
    assert seen["attached"] is False
    title, text = seen["error"]
    assert title == "RouteDesk can't start" and text
    assert seen["gc_enabled"]


def test_the_start_up_pause_of_the_garbage_collector_ends_once_frozen():
    """``hold_gc``: off until ``release()``, which freezes what exists and turns it back on
    (once); a collector that was off before stays off, with nothing frozen."""
    import gc

    from desktop.ui.app import hold_gc

    try:
        release = hold_gc()
        assert not gc.isenabled()
        release()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.disable()
        release()  # a second call changes nothing
        assert not gc.isenabled()
        gc.unfreeze()
        release = hold_gc()
        release()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.enable()
