"""Crash safety of the command line: ``kill -9`` of ``routedesk ask`` in the middle of a
stream. On restart the conversation shows the user's message and the partial answer the
user had already seen, marked interrupted, and the database opens without repair
(integrity_check ok from a plain sqlite3 connection before RouteDesk touches it).

A real process, the real keyring, real HTTP to the provider simulator; the stream stalls
after a few words (the simulator holds it open), so the kill lands mid-answer every time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.crash_support import checkpointed, wait_until
from tests.simulator import Fault
from tests.simulator.fixtures import sim  # noqa: F401

from .conftest import KEY, integrity

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

PROMPT = "Tell me a long story about a lighthouse keeper and the sea and the gulls please"


@pytest.fixture
def env(tmp_path, sim, keystore):  # noqa: F811
    e = dict(os.environ)
    e["ROUTEDESK_HOME"] = str(tmp_path / "home")
    e["OLLAMA_HOST"] = sim.base_url
    e["PYTHONUNBUFFERED"] = "1"
    e.pop("ROUTEDESK_DEBUG", None)
    return e


@pytest.fixture
def name(keystore):
    n = "crash" + uuid.uuid4().hex[:8]
    yield n
    keystore.delete(n)  # the child stored it


def rd(env, *args, stdin=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "desktop", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("after_chunks", [1, 6])
def test_kill_9_mid_stream_keeps_the_question_and_the_partial_answer(env, name, sim, after_chunks):
    r = rd(env, "providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin",
           stdin=KEY + "\n")
    assert r.returncode == 0, r.stderr
    sim.inject(Fault("stall", after_chunks=after_chunks, delay=None))  # holds the stream open
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "ask", "--model", f"{name}/gpt-4o", PROMPT],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = Path(env["ROUTEDESK_HOME"]) / "routedesk.sqlite3"
    try:
        assert sim.wait_stalled(1, 30), "the stream never started"
        # What the user has seen must reach the disk without waiting for the next word.
        partial = wait_until(lambda: checkpointed(db, after_chunks), 5.0, "the partial answer to be checkpointed")
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    reply = sim.reply([{"role": "user", "content": PROMPT}])
    printed = out.decode()
    assert partial == printed, (partial, printed)  # stored exactly what was on the screen
    assert reply.startswith(partial) and len(partial.split()) == after_chunks < len(reply.split())

    # The database is sound before RouteDesk opens it again: nothing to repair.
    assert integrity(db) == ["ok"]

    # Restart: the first command a user runs shows the conversation as it was.
    h = rd(env, "history", "--json")
    assert h.returncode == 0, h.stderr
    convs = json.loads(h.stdout)["conversations"]
    assert len(convs) == 1
    msgs = convs[0]["messages"]
    assert [(m["role"], m["text"]) for m in msgs] == [("user", PROMPT), ("assistant", partial)]
    assert msgs[1]["status"] == "interrupted", msgs[1]
    assert msgs[1]["error"]["kind"] == "interrupted"

    # And the conversation goes on from there.
    sim.clear_faults()
    r = rd(env, "ask", "--continue", "--json", "--model", f"{name}/gpt-4o", "go on")
    assert r.returncode == 0, r.stderr
    h = json.loads(rd(env, "history", "--json").stdout)["conversations"][0]["messages"]
    assert [(m["role"], m["status"]) for m in h] == [("user", "complete"), ("assistant", "interrupted"),
                                                     ("user", "complete"), ("assistant", "complete")]
    sent = [q.json_body for q in sim.requests if q.path.endswith("/chat/completions")][-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == partial  # the model sees what the user saw
    assert integrity(db) == ["ok"]
