"""Nothing doubled or lost: the same file twice imports once; a damaged, cut-off or
cancelled import changes nothing at all; imported history is searchable at once,
costs nothing and teaches the router nothing."""

from __future__ import annotations

import json
import random
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.types import ModelRef, Usage
from desktop.engine.history_import import ImportCancelled, ImportRefused, import_history
from desktop.storage import Store
from tests.engine.export_factory import ChatGPTBuilder, chatgpt_simple, openwebui_chat


def _dump(store: Store) -> list[str]:
    """Everything in the database, as SQL (the FTS index included)."""
    return list(store.conn.iterdump())


def _export(tmp_path, name="conversations.json", n=3):
    path = tmp_path / name
    convs = [chatgpt_simple(2 + i, title=f"Chat {i}", words=f"word{i}") for i in range(n)]
    path.write_text(json.dumps(convs), encoding="utf-8")
    return path


def test_the_same_file_twice_imports_once(store, tmp_path):
    path = _export(tmp_path)
    first = import_history(store, path)
    before = _dump(store)
    second = import_history(store, path)
    assert first.conversations_imported == 3
    assert second.conversations_imported == 0 and second.conversations_already == 3
    assert _dump(store) == before
    assert "Already in RouteDesk (imported before), left as they were: 3 conversations." in second.lines()


def test_a_newer_export_adds_only_the_new_conversations(store, tmp_path):
    old = [chatgpt_simple(2, title="Old", conv_id="c-1")]
    new = old + [chatgpt_simple(2, title="New", conv_id="c-2")]
    (tmp_path / "a.json").write_text(json.dumps(old))
    (tmp_path / "b.json").write_text(json.dumps(new))
    import_history(store, tmp_path / "a.json")
    summary = import_history(store, tmp_path / "b.json")
    assert summary.conversations_imported == 1 and summary.conversations_already == 1
    assert sorted(c.title for c in store.list_conversations()) == ["New", "Old"]


def test_imported_messages_are_searchable_at_once_and_cost_nothing(store, tmp_path):
    store.add_ledger_entry(None, ModelRef("work", "gpt-4o"), Usage(10, 10), None, "unknown")
    ledger_before = store.ledger()
    scores_before = store.recent_scores()
    import_history(store, _export(tmp_path))
    assert [h.conversation_title for h in store.search("word2")] == ["Chat 2"] * 8
    assert store.ledger() == ledger_before
    assert store.spend_total() == 0
    assert store.recent_scores() == scores_before
    assert store.list_feedback() == []
    assert all(m.cost_usd is None for c in store.list_conversations() for m in store.messages(c.id))


@pytest.mark.parametrize("cut", [1, 100, 0.5, -1])
def test_a_cut_off_file_is_refused_and_changes_nothing(store, tmp_path, cut):
    store.add_user_message(store.create_conversation("Mine"), "keep me")
    path = _export(tmp_path, n=5)
    data = path.read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    path.write_bytes(data[:end])
    before = _dump(store)
    with pytest.raises(ImportRefused) as err:
        import_history(store, path)
    assert "looks cut off" in err.value.message and "Nothing was imported" in err.value.message
    assert "Download the export again" in str(err.value.fix)
    assert _dump(store) == before


def test_damage_late_in_the_file_undoes_the_conversations_already_written(store, tmp_path):
    path = tmp_path / "conversations.json"
    good = ",".join(json.dumps(chatgpt_simple(3, title=f"C{i}")) for i in range(20))
    path.write_text("[" + good + ', {"title": "bad" "mapping": {}}]', encoding="utf-8")
    before = _dump(store)
    with pytest.raises(ImportRefused, match="damaged near character"):
        import_history(store, path)
    assert _dump(store) == before
    assert store.search("prune") == []


def test_not_utf8_and_not_an_export_are_refused_plainly(store, tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'[{"title": "caf\xe9", "mapping": {}}]')
    with pytest.raises(ImportRefused, match="not UTF-8"):
        import_history(store, bad)
    other = tmp_path / "settings.json"
    other.write_text(json.dumps({"theme": "dark"}))
    with pytest.raises(ImportRefused, match="is not a ChatGPT, Open WebUI or RouteDesk export"):
        import_history(store, other)
    with pytest.raises(ImportRefused, match="There is no file"):
        import_history(store, tmp_path / "missing.json")


def test_a_damaged_zip_is_refused(store, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("conversations.json", json.dumps([chatgpt_simple(30, title="Z")]))
    data = bytearray(archive.read_bytes())
    data[60:80] = b"\x00" * 20  # inside the compressed member
    archive.write_bytes(bytes(data))
    before = _dump(store)
    with pytest.raises(ImportRefused):
        import_history(store, archive)
    assert _dump(store) == before


def test_cancelling_changes_nothing(store, tmp_path):
    path = _export(tmp_path, n=10)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 4

    before = _dump(store)
    with pytest.raises(ImportCancelled):
        import_history(store, path, should_stop=stop)
    assert _dump(store) == before


def test_progress_reaches_the_end(store, tmp_path):
    seen = []
    import_history(store, _export(tmp_path, n=4), progress=seen.append)
    assert seen[-1].fraction == 1.0 and seen[-1].conversations == 4


# --- random damage ----------------------------------------------------------------------

_SAMPLE: list[bytes] = []


def _sample_export() -> bytes:
    if not _SAMPLE:
        b = ChatGPTBuilder("Sample", conv_id="sample-1")
        b.instructions("profile", "be brief")
        q = b.user("q1")
        b.assistant("a1")
        b.last = q
        b.assistant("a1 again")
        b.browse("x", "y")
        b.dalle("z")
        b.assistant("done")
        convs = [b.build(), chatgpt_simple(3, title="Two", conv_id="sample-2"), openwebui_chat(chat_id="owui-1")]
        _SAMPLE.append(json.dumps(convs).encode())
    return _SAMPLE[0]


@st.composite
def damaged(draw):
    data = bytearray(_sample_export())
    kind = draw(st.sampled_from(["truncate", "flip", "delete", "insert", "splice"]))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 4))):
        i = rng.randrange(len(data))
        if kind == "truncate":
            data = data[:i]
            break
        if kind == "flip":
            data[i] = rng.randrange(256)
        elif kind == "delete":
            del data[i : i + rng.randrange(1, 40)]
        elif kind == "insert":
            data[i:i] = rng.choice([b"{", b"]", b'"', b",", b"null", b"\xff", b"1e999", b"[[[["])
        else:
            j = rng.randrange(len(data))
            data[i:i] = data[j : j + rng.randrange(1, 200)]
        if not data:
            break
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=damaged())
def test_random_damage_never_crashes_and_never_imports_half_a_file(tmp_path_factory, blob):
    tmp = tmp_path_factory.mktemp("damage")
    path = tmp / "conversations.json"
    path.write_bytes(blob)
    with Store(tmp / "db.sqlite3") as store:
        keep = store.create_conversation("Mine")
        store.add_user_message(keep, "my own words")
        before = _dump(store)
        try:
            summary = import_history(store, path)
        except ImportRefused as err:
            assert err.message and err.fix
            assert _dump(store) == before  # refused: not one row changed
            return
        # accepted: every conversation the file names is imported, already there, or listed as skipped
        total = summary.conversations_imported + summary.conversations_already + len(summary.conversations_skipped)
        assert total == len(json.loads(blob.decode("utf-8-sig")) if blob.strip().startswith(b"[") else [1])
        rows = store.conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert rows == 1 + summary.messages_imported
        assert store.search("my own words")[0].conversation_id == keep


def test_an_empty_export_imports_nothing_without_complaint(store, tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text("[]\n")
    summary = import_history(store, path)
    assert summary.conversations_imported == 0 and summary.lines() == ["Imported 0 conversations (0 messages) from "
                                                                       "the file."]


def test_a_busy_database_is_refused_in_words(store, home, tmp_path):
    import sqlite3

    other = sqlite3.connect(home / "routedesk.sqlite3", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the window saving an answer, say
        store.conn.execute("PRAGMA busy_timeout = 50")
        with pytest.raises(ImportRefused, match="database is busy"):
            import_history(store, _export(tmp_path))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert import_history(store, _export(tmp_path)).conversations_imported == 3
