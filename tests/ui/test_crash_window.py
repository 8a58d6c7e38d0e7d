"""Crash safety of the window: ``kill -9`` of the running window in the middle of a stream.
On restart the window shows the user's message and the partial answer marked interrupted,
and the database opens without repair (integrity_check from a plain connection first).

Real processes (tests/ui/crash_window_driver.py starts the window as ``run_app`` does and
sends a message), the real keyring, real HTTP to the provider simulator; the stream stalls
after a few words so the kill lands mid-answer.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.crash_support import checkpointed, wait_until
from tests.simulator import Fault

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-key"
PROMPT = "Describe the night shift of a lighthouse keeper during a winter storm in detail"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


@pytest.fixture
def env(tmp_path, sim, keystore):  # the child processes use the real keyring (service RouteDesk)
    e = dict(os.environ)
    e["ROUTEDESK_HOME"] = str(tmp_path / "home")
    e["OLLAMA_HOST"] = sim.base_url
    e["QT_QPA_PLATFORM"] = "offscreen"
    e["PYTHONUNBUFFERED"] = "1"
    return e


@pytest.fixture
def name(keystore):
    n = "win" + uuid.uuid4().hex[:8]
    yield n
    keystore.delete(n)  # the child stored it


def integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def driver(env, *args, **kw):
    return [sys.executable, "-m", "tests.ui.crash_window_driver", *args]


@pytest.mark.parametrize("after_chunks", [2])
def test_kill_9_of_the_window_mid_stream(env, name, sim, after_chunks):
    r = subprocess.run([sys.executable, "-m", "desktop", "providers", "add", name, "--kind", "openai",
                        "--base-url", sim.openai_url, "--key-stdin"], input=KEY + "\n", env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    sim.inject(Fault("stall", after_chunks=after_chunks, delay=None))
    proc = subprocess.Popen(driver(env, "send", f"{name}/gpt-4o", PROMPT), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = Path(env["ROUTEDESK_HOME"]) / "routedesk.sqlite3"
    try:
        assert sim.wait_stalled(1, 60), "the window never sent the message"
        partial = wait_until(lambda: checkpointed(db, after_chunks), 5.0, "the words on screen to be checkpointed")
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    assert out.splitlines()[:1] == [b"sent"], out  # the window took the message (not "not sent")
    reply = sim.reply([{"role": "user", "content": PROMPT}])
    assert reply.startswith(partial) and len(partial.split()) == after_chunks

    assert integrity(db) == ["ok"]  # before anything of RouteDesk opens it

    sim.clear_faults()
    r = subprocess.run(driver(env, "show"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout.strip().splitlines()[-1])
    assert [(i["role"], i["text"]) for i in shown["items"]] == [("user", PROMPT), ("assistant", partial)], shown
    assert shown["items"][1]["status"] == "interrupted", shown
    assert shown["auto_opened"], "the window should reopen the conversation it was showing"
    assert integrity(db) == ["ok"]
