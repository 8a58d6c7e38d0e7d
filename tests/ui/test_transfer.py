"""File → Import in the window: a progress dialog fed by the import, a summary, the
conversations in the sidebar at once, and Export in the conversation's menu."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QFileDialog

from desktop.engine.history_search import search_history
from tests.engine.export_factory import chatgpt_simple, openwebui_chat


def test_file_import_shows_progress_then_a_summary_and_the_sidebar_fills(ui, qtbot, tmp_path, monkeypatch):
    controller, window = ui
    path = tmp_path / "conversations.json"
    convs = [chatgpt_simple(3, title=f"Garden {i}", words="hellebores") for i in range(300)]
    path.write_text(json.dumps(convs + [{"title": "Torn", "mapping": "?"}]), encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    transfer = window.transfer
    assert transfer.import_action in window.transfer.file_menu.actions()

    values: list[int] = []
    finished: list[object] = []
    transfer.import_finished.connect(finished.append)
    transfer.progressed.connect(values.append)
    transfer.import_action.trigger()
    assert transfer.progress is not None and transfer.progress.isVisible()
    assert not transfer.import_action.isEnabled()  # one import at a time
    qtbot.waitUntil(lambda: bool(finished), timeout=60000)

    summary = finished[0]
    assert summary is not None and summary.conversations_imported == 300
    assert transfer.progress is None  # closed
    assert values and values[-1] == 1000
    box = transfer.message
    assert box.isVisible() and box.windowTitle() == "Import finished"
    assert "Imported 300 conversations (1,800 messages) from ChatGPT." in box.text()
    assert "“Torn”: it has no messages (its message tree is missing)." in box.text()
    assert len(controller.conversations.rows) == 300

    # the window's search finds what the CLI's search finds
    qtbot.keyClicks(window.sidebar.search, "hellebores")
    cli = search_history(controller.engine.store, "hellebores")
    want = [(h.conversation_id, h.message_id, h.snippet[:120]) for h in cli]
    qtbot.waitUntil(lambda: [(r.id, r.message_id, r.snippet) for r in controller.conversations.rows] == want,
                    timeout=5000)


def test_a_damaged_file_says_why_and_imports_nothing(ui, qtbot, tmp_path):
    controller, window = ui
    path = tmp_path / "chat-export.json"
    path.write_text(json.dumps([openwebui_chat()])[:-25], encoding="utf-8")
    finished: list[object] = []
    window.transfer.import_finished.connect(finished.append)
    window.transfer.start_import(path)
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    assert finished == [None]
    box = window.transfer.message
    assert box.windowTitle() == "Import failed" and "looks cut off" in box.text()
    assert "Download the export again" in box.text()
    assert controller.engine.store.list_conversations() == []


def test_export_from_the_conversation_menu(ui, qtbot, tmp_path, monkeypatch):
    controller, window = ui
    conv = controller.engine.store.create_conversation("Menu export")
    controller.engine.store.add_user_message(conv, "Export me, please")
    controller.refresh_conversations()
    window.sidebar.list.setCurrentIndex(controller.conversations.index(0))
    target = tmp_path / "one.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Markdown (*.md)"))
    done: list[object] = []
    window.transfer.export_finished.connect(done.append)
    menu = window.sidebar.conversation_menu()  # what a right-click opens
    actions = menu.actions()
    assert [a.text() for a in actions] == ["Rename…", "Delete", "Export…"]
    actions[-1].trigger()
    menu.deleteLater()
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    assert done == [(1, target)]
    text = target.read_text()
    assert text.startswith("# Menu export\n") and "Export me, please" in text
