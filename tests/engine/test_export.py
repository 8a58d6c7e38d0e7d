"""Export: Markdown a person can read, and JSON that comes back as the same
conversations in a fresh data folder (and as nothing new in the one it came from)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.engine.history_export import ExportRefused, conversations_to_export, export_history
from desktop.engine.history_import import import_history
from desktop.storage import Store
from tests.engine.export_factory import chatgpt_simple

ANSWER = "Here is how:\n\n```python\ndef f(x):\n    return x * 2  # **not bold**\n```\n\nThat's all."


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2025, 5, 4, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=3, microseconds=250)
        return self.t


def _native(store: Store) -> tuple[int, int]:
    """Two conversations written the way the engine writes them."""
    conv = store.create_conversation("Doubling numbers")
    store.add_system_message(conv, "You are terse.")
    store.add_user_message(conv, "How do I double a number in Python?")
    route = RouteDecision("strong", 0.734512, 0.5, "code question", "share", ("code", "long prompt"))
    ans = store.start_answer(conv, route=route, model=ModelRef("work", "gpt-4o"))
    store.add_attempt(ans, ModelRef("cheap", "llama3.2"), ok=False,
                      error=ErrorInfo("rate_limited", "Slow down.", "Wait a minute.", "cheap", "llama3.2", 429,
                                      "rate_limit_exceeded"), started_at=1_746_350_000.5, ended_at=1_746_350_001.0)
    store.add_attempt(ans, ModelRef("work", "gpt-4o"), ok=True, usage=Usage(120, 45),
                      started_at=1_746_350_001.25, ended_at=1_746_350_003.0)
    store.finish_answer(ans, text=ANSWER, status="complete", model=ModelRef("work", "gpt-4o"),
                        usage=Usage(120, 45), cost_usd=Decimal("0.000750"), ttft_ms=312.5, fallback_used=True)
    store.add_user_message(conv, "And triple?")
    cut = store.start_answer(conv, route=None, model=ModelRef("ollama", "llama3.2"))
    store.finish_answer(cut, text="Multiply by", status="interrupted",
                        error=ErrorInfo("interrupted", "The stream broke.", "Press Retry."))
    other = store.create_conversation("Empty so far")
    return conv, other


def _snapshot(store: Store) -> list:
    out = []
    for c in sorted(store.list_conversations(include_deleted=True), key=lambda c: c.created_at):
        msgs = [
            (m.role, m.status, m.text, m.model, m.route, m.usage, m.cost_usd, m.error, m.ttft_ms, m.fallback_used,
             [(a.ref, a.ok, a.error, a.usage, a.started_at, a.ended_at) for a in m.attempts], m.created_at,
             m.updated_at, m.served_model)
            for m in store.messages(c.id)
        ]
        out.append((c.title, c.created_at, c.updated_at, c.deleted_at, msgs))
    return out


def test_json_round_trip_into_a_fresh_folder_gives_the_same_conversations(tmp_path):
    with Store(tmp_path / "a.sqlite3", now=Clock()) as a:
        _native(a)
        cut = a.create_conversation("Cut and served by another model")  # the statuses m009 added
        a.add_user_message(cut, "Tell me everything")
        ans = a.start_answer(cut, route=None, model=ModelRef("proxy", "gpt-4o"))
        a.finish_answer(ans, text="It all began", status="truncated", model=ModelRef("proxy", "gpt-4o"),
                        usage=Usage(9, 3), served_model="gpt-4o-mini")
        gone = a.create_conversation("Deleted one")
        a.add_user_message(gone, "bye")
        a.delete_conversation(gone)
        ids = [c.id for c in conversations_to_export(a, None)] + [gone]
        buf = io.StringIO()
        assert export_history(a, ids, buf, format="json") == 4
        expected = _snapshot(a)
    path = tmp_path / "routedesk-export.json"
    path.write_text(buf.getvalue(), encoding="utf-8")
    with Store(tmp_path / "b.sqlite3") as b:
        summary = import_history(b, path)
        assert summary.formats == ["routedesk"] and summary.conversations_imported == 4
        assert _snapshot(b) == expected
        assert [(m.status, m.served_model) for c in b.list_conversations() for m in b.messages(c.id)
                if m.status == "truncated"] == [("truncated", "gpt-4o-mini")]
        assert b.ledger() == []  # the spend happened in the other folder
        # and the copy exports to the same conversations again (sources kept)
        again = io.StringIO()
        export_history(b, None, again, format="json")
    first = [{k: v for k, v in c.items()} for c in json.loads(buf.getvalue())["conversations"]]
    second = json.loads(again.getvalue())["conversations"]
    assert [c for c in first if c["deleted_at"] is None] == second


def test_json_back_into_the_folder_it_came_from_adds_nothing(tmp_path):
    with Store(tmp_path / "a.sqlite3") as a:
        _native(a)
        a_imported = import_history(a, _chatgpt_file(tmp_path))
        buf = io.StringIO()
        export_history(a, None, buf, format="json")
        path = tmp_path / "back.json"
        path.write_text(buf.getvalue(), encoding="utf-8")
        before = list(a.conn.iterdump())
        summary = import_history(a, path)
        assert summary.conversations_imported == 0
        assert summary.conversations_already == 2 + a_imported.conversations_imported
        assert list(a.conn.iterdump()) == before


def _chatgpt_file(tmp_path):
    p = tmp_path / "conversations.json"
    p.write_text(json.dumps([chatgpt_simple(1, title="From ChatGPT", conv_id="g-1")]))
    return p


def test_markdown_reads_well(tmp_path):
    with Store(tmp_path / "a.sqlite3", now=Clock()) as store:
        conv, _ = _native(store)
        buf = io.StringIO()
        export_history(store, [conv], buf, format="markdown")
    md = buf.getvalue()
    assert md.startswith("# Doubling numbers\n\n*Started 2025-05-04 09:30 UTC · last activity ")
    assert "**System prompt**\n\n> You are terse.\n\n" in md
    assert "## You · 2025-05-04 09:30 UTC\n\nHow do I double a number in Python?\n\n" in md
    assert f"## Assistant · 2025-05-04 09:30 UTC\n\n{ANSWER}\n\n" in md  # code block intact
    assert "— **work/gpt-4o** · $0.00075 · 120 tokens in, 45 out · routed strong, score 0.73 · fallback\n" in md
    assert "Multiply by\n\n> The stream broke.\n\n— **ollama/llama3.2** · price unknown · interrupted\n" in md


def test_markdown_of_imported_history_says_where_it_came_from(store, tmp_path):
    import_history(store, _chatgpt_file(tmp_path))
    buf = io.StringIO()
    export_history(store, None, buf, format="markdown")
    md = buf.getvalue()
    assert "· imported from ChatGPT*" in md
    assert "— **chatgpt/gpt-4o** · cost not recorded (imported)" in md


def test_an_unclosed_code_fence_does_not_swallow_the_next_message(store):
    conv = store.create_conversation("Cut code")
    store.add_user_message(conv, "Show me")
    ans = store.start_answer(conv, route=None)
    store.finish_answer(ans, text="```python\nprint(1", status="stopped")
    buf = io.StringIO()
    export_history(store, [conv], buf)
    assert "```python\nprint(1\n```\n\n— **model unknown**" in buf.getvalue()


def test_unknown_ids_are_refused_before_anything_is_written(store):
    conv = store.create_conversation("Real")
    buf = io.StringIO()
    with pytest.raises(ExportRefused, match="There is no conversation 999"):
        export_history(store, [conv, 999], buf, format="json")
    assert buf.getvalue() == ""


def test_a_file_from_a_newer_routedesk_is_refused(store, tmp_path):
    buf = io.StringIO()
    export_history(store, None, buf, format="json")
    data = json.loads(buf.getvalue())
    data["version"] = 99
    data["conversations"] = [{"source": {"system": "x", "id": "1"}, "messages": []}]
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="exported by a newer RouteDesk"):
        import_history(store, path)
