"""`routedesk import`, `export` and `search` as a user types them (through
``desktop.cli.main``, on a real data folder in ROUTEDESK_HOME)."""

from __future__ import annotations

import json

from desktop.cli import main
from desktop.storage import Store
from tests.engine.export_factory import chatgpt_simple, openwebui_chat


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _chatgpt(tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([chatgpt_simple(2, title="Roses", conv_id="r-1", words="aphids"),
                                {"title": "Broken", "mapping": []}]))
    return path


def test_import_prints_what_happened_and_twice_imports_once(home, tmp_path, capsys):
    path = _chatgpt(tmp_path)
    code, out, _ = _run(capsys, "import", str(path))
    assert code == 0
    assert out.splitlines() == [
        "Imported 1 conversation (4 messages) from ChatGPT.",
        "Skipped 1 conversation that could not be read:",
        "  “Broken”: it has no messages (its message tree is missing).",
    ]
    code, out, _ = _run(capsys, "import", str(path), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["conversations_imported"] == 0 and data["conversations_already_imported"] == 1
    assert data["conversations_skipped"] == [{"title": "Broken", "reason": "it has no messages (its message tree "
                                                                           "is missing)"}]


def test_import_of_a_cut_off_file_fails_with_a_sentence_and_a_fix(home, tmp_path, capsys):
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([chatgpt_simple(2)])[:-40])
    code, out, err = _run(capsys, "import", str(path))
    assert code == 1 and out == ""
    assert "error: RouteDesk can't import conversations.json: the file ends too early" in err
    assert "fix:   Download the export again" in err
    code, out, _ = _run(capsys, "import", str(path), "--json")
    assert code == 1 and json.loads(out)["error"]["kind"] == "bad_response"
    with Store(home / "routedesk.sqlite3") as s:
        assert s.list_conversations() == []


def test_search_shows_conversation_snippet_and_date(home, tmp_path, capsys):
    _run(capsys, "import", str(_chatgpt(tmp_path)))
    code, out, _ = _run(capsys, "search", "aphids")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("#1 Roses · 2023-11-1")
    assert "«aphids»" in lines[1]
    code, out, _ = _run(capsys, "search", "aphids", "--json")
    data = json.loads(out)
    assert data["query"] == "aphids"
    first = data["results"][0]
    assert first["conversation_id"] == 1 and first["conversation_title"] == "Roses"
    assert "«aphids»" in first["snippet"] and first["date"].startswith("2023-11-14")
    code, out, _ = _run(capsys, "search", "nothing-like-this")
    assert out == "Nothing matches 'nothing-like-this'.\n"


def test_export_markdown_to_a_file_and_json_to_stdout_round_trip(home, tmp_path, capsys, monkeypatch):
    ow = tmp_path / "owui.json"
    ow.write_text(json.dumps([openwebui_chat("Haiku")]))
    _run(capsys, "import", str(_chatgpt(tmp_path)))
    _run(capsys, "import", str(ow))

    md = tmp_path / "out" / "chats.md"
    md.parent.mkdir()
    code, out, err = _run(capsys, "export", "2", "-o", str(md))
    assert code == 0 and out == "" and err == f"Exported 1 conversation to {md}.\n"
    assert md.read_text().startswith("# Haiku\n")
    assert list(md.parent.iterdir()) == [md]  # no temporary file left behind

    code, out, _ = _run(capsys, "export", "--all", "--format", "json")
    assert code == 0
    exported = tmp_path / "all.json"
    exported.write_text(out)
    assert [c["title"] for c in json.loads(out)["conversations"]] == ["Roses", "Haiku"]

    monkeypatch.setenv("ROUTEDESK_HOME", str(tmp_path / "fresh"))
    code, out, _ = _run(capsys, "import", str(exported))
    assert code == 0 and out.startswith("Imported 2 conversations (8 messages) from RouteDesk.")


def test_export_asks_which_conversations_and_refuses_unknown_ones(home, capsys):
    code, _, err = _run(capsys, "export")
    assert code == 1 and "Which conversations? Give their numbers or --all." in err
    code, _, err = _run(capsys, "export", "41", "-o", "x.md")
    assert code == 1 and "There is no conversation 41." in err and "routedesk history" in err
