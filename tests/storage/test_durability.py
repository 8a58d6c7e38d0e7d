"""Several processes at once, and a kill -9 at any moment."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.core.types import ModelRef, RouteDecision
from desktop.storage import Store

ROOT = Path(__file__).parents[2]
ROUTE = RouteDecision("strong", 0.8, 0.5, "hard", "share-target")
STRONG = ModelRef("work", "gpt-4o")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def test_two_connections_see_each_other(home: Path):
    path = home / "db.sqlite3"
    with Store(path) as window, Store(path) as cli:
        conv = window.create_conversation("from the window")
        cli.add_user_message(conv, "from the cli")
        assert [m.text for m in window.messages(conv)] == ["from the cli"]
        cli.set_setting("pair", {"strong": "work/gpt-4o"})
        assert window.get_setting("pair") == {"strong": "work/gpt-4o"}
        assert [c.title for c in cli.list_conversations()] == ["from the window"]


def test_a_writer_waits_for_another_instead_of_failing(home: Path):
    path = home / "db.sqlite3"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)  # another process's write, in progress
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO settings VALUES ('other', '1', '2026-01-01T00:00:00.000000Z')")
    reached, outcome = threading.Event(), []

    def write() -> None:
        with Store(path) as s:
            s.conn.set_trace_callback(lambda sql: reached.set() if "settings" in sql and "mine" in sql else None)
            try:
                s.set_setting("mine", 2)  # meets the other writer's lock
                outcome.append((s.get_setting("other"), s.get_setting("mine")))
            except Exception as exc:  # what a Store without a busy timeout does at once
                outcome.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert reached.wait(10), "the writer never reached its statement"
        # Still waiting a while later, not failed: how long it waits is the behaviour under test.
        writer.join(0.5)
        assert writer.is_alive(), f"the writer gave up instead of waiting: {outcome}"
    finally:
        holder.execute("COMMIT")
        holder.close()
        writer.join(10)
    assert outcome == [(1, 2)]


_WRITER = r"""
import sys
from decimal import Decimal
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.storage import Store

s = Store(sys.argv[1])
conv = s.create_conversation("crash")
ref = ModelRef("work", "gpt-4o")
mid = s.start_answer(conv, route=RouteDecision("strong", 0.8, 0.5, "hard", "share-target"), model=ref)
s.save_partial(mid, "partial before the crash")
print("streaming", mid, flush=True)
i = 0
while True:
    i += 1
    uid = s.add_user_message(conv, f"message number {i} " + "x" * 500)
    s.add_ledger_entry(uid and mid, ref, Usage(10, 5), Decimal("0.000001"), "override", None, "strong")
    s.save_partial(mid, f"partial {i}")
    print("committed", i, flush=True)
"""


def test_kill_9_while_writing_leaves_a_sound_database(home: Path):
    path = home / "db.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        kind, mid = proc.stdout.readline().split()
        assert kind == "streaming"
        mid = int(mid)
        committed = 0
        while committed < 150:
            line = proc.stdout.readline()
            assert line, "writer died early"
            committed = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)  # mid-insert: it writes in a tight loop
        proc.wait(10)
        for line in proc.stdout:  # lines printed before the kill landed were committed too
            committed = int(line.split()[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with Store(path) as s:  # opens without repair
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        s.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        (conv,) = s.list_conversations()
        users = [m for m in s.messages(conv.id) if m.role == "user"]
        assert len(users) >= committed  # every row the writer reported as committed
        assert [m.text.split()[2] for m in users[:committed]] == [str(i) for i in range(1, committed + 1)]
        assert len(s.ledger()) >= committed
        assert s.spend_total() == len(s.ledger()) * __import__("decimal").Decimal("0.000001")
        # the answer that was streaming when the process died
        assert s.recover_interrupted() == 1
        m = s.get_message(mid)
        assert m.status == "interrupted"
        assert m.text.startswith("partial ") and int(m.text.split()[1]) >= committed
        assert s.search("partial")  # now searchable


_STREAMER = r"""
import sys, time
from desktop.core.types import ModelRef, RouteDecision
from desktop.storage import Store
s = Store(sys.argv[1])
conv = s.create_conversation("live")
mid = s.start_answer(conv, route=RouteDecision("weak", 0.1, 0.5, "easy", "p"), model=ModelRef("ollama", "m"))
s.save_partial(mid, "still typing")
print(mid, flush=True)
time.sleep(60)  # a window that is still streaming: this process hangs until the test kills it
"""


def test_recover_leaves_another_live_process_alone(home: Path):
    """The CLI starting while the window streams must not cut the window's answer."""
    path = home / "db.sqlite3"
    Store(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _STREAMER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        mid = int(proc.stdout.readline())
        with Store(path) as cli:
            assert cli.recover_interrupted() == 0
            assert cli.get_message(mid).status == "streaming"
        proc.kill()
        proc.wait(10)
        with Store(path) as later:
            assert later.recover_interrupted() == 1
            m = later.get_message(mid)
            assert (m.status, m.text) == ("interrupted", "still typing")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_save_partial_is_one_cheap_update(store: Store):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=ROUTE, model=STRONG)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.save_partial(mid, "a" * 10_000)
    store.conn.set_trace_callback(None)
    sql = {s for s in statements if not s.startswith("--")}  # sqlite traces a re-step twice
    assert len(sql) == 1 and sql.pop().startswith("UPDATE messages SET text")
    start = time.perf_counter()
    text = ""
    for _ in range(500):
        text += "token "
        store.save_partial(mid, text)
    assert time.perf_counter() - start < 2.0  # ~ms each, with a commit per call
    assert store.get_message(mid).text == text
