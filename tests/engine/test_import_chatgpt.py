"""Importing ChatGPT's data export: the branch the user saw, in order, without the
machinery (hidden nodes, tool calls and results, reasoning), with placeholders for
what isn't text, and with titles, times and model names kept."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime

import pytest

from desktop.engine.history_import import ImportRefused, import_history
from tests.engine.export_factory import T0, ChatGPTBuilder, chatgpt_simple


def _write(tmp_path, convs, name="conversations.json"):
    path = tmp_path / name
    path.write_text(json.dumps(convs), encoding="utf-8")
    return path


def _texts(store, conv_id):
    return [(m.role, m.text) for m in store.messages(conv_id)]


def test_the_branch_last_seen_in_order_without_hidden_nodes_tools_or_reasoning(store, tmp_path):
    b = ChatGPTBuilder("Roses", model="gpt-4o")
    b.instructions("I grow roses in Leeds.", "Answer in two sentences.")
    first = b.user("How do I prune roses?")
    b.assistant("An answer the user regenerated away.", model="gpt-4")
    b.last = first  # the regenerated answer is a sibling branch
    b.thoughts("Pruning depends on the variety.")
    b.assistant("Cut just above an outward-facing bud.", model="o1")
    b.user("What did the RHS say?")
    b.browse("rhs rose pruning", "The RHS says prune in late winter.")
    b.assistant("The RHS says late winter.")
    b.run_code("print(6 * 7)", "42")
    b.assistant("And six sevens are 42.")
    path = _write(tmp_path, [b.build()])

    summary = import_history(store, path)

    assert summary.conversations_imported == 1
    conv = store.get_conversation(summary.conversation_ids[0])
    assert conv.title == "Roses"
    assert conv.created_at == datetime.fromtimestamp(T0, UTC)
    msgs = store.messages(conv.id)
    assert [(m.role, m.text) for m in msgs] == [
        ("system", "I grow roses in Leeds.\n\nAnswer in two sentences."),
        ("user", "How do I prune roses?"),
        ("assistant", "Cut just above an outward-facing bud."),
        ("user", "What did the RHS say?"),
        ("assistant", "The RHS says late winter.\n\n[code interpreter output]\n\nAnd six sevens are 42."),
    ]
    assert str(msgs[2].model) == "chatgpt/o1"  # the slug of the answer on the branch shown
    assert msgs[1].created_at < msgs[2].created_at < msgs[3].created_at
    assert summary.messages_skipped == {
        "tool calls": 2, "tool and browsing results": 2, "reasoning summaries": 2,
    }


def test_images_files_and_generated_pictures_become_placeholders(store, tmp_path):
    b = ChatGPTBuilder("Pictures")
    b.message(role="user", content_type="multimodal_text", parts=[
        {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-1", "width": 800},
        "What flower is this?",
    ], metadata={"attachments": [{"id": "file-1", "name": "rose.jpg", "mime_type": "image/jpeg"}]})
    b.assistant("A rose.")
    b.user("Draw me one")
    b.dalle("a red rose")
    b.assistant("Here is your rose.")
    b.message(role="user", content_type="multimodal_text", parts=[
        {"content_type": "audio_transcription", "text": "thanks, that's lovely", "direction": "in"},
        {"content_type": "audio_asset_pointer", "asset_pointer": "sediment://a"},
    ])
    summary = import_history(store, _write(tmp_path, [b.build()]))

    assert _texts(store, summary.conversation_ids[0]) == [
        ("user", "[image]\nWhat flower is this?\n\n[file: rose.jpg]"),
        ("assistant", "A rose."),
        ("user", "Draw me one"),
        ("assistant", "[image]\n\nHere is your rose."),
        ("user", "thanks, that's lovely\n[audio]"),
    ]


def test_empty_parts_unknown_content_and_broken_messages_do_not_stop_the_rest(store, tmp_path):
    b = ChatGPTBuilder("Messy")
    b.user("First question")
    b.assistant("")  # an empty part: nothing to import
    b.message(role="assistant", content={"content_type": "brand_new_type", "parts": ["Future text"]})
    node = b.user("placeholder")
    b.mapping[node]["message"]["content"] = "not an object"
    b.message(role="assistant", content={"content_type": "brand_new_blob"})
    b.user("Last question")
    summary = import_history(store, _write(tmp_path, [b.build()]))

    assert _texts(store, summary.conversation_ids[0]) == [
        ("user", "First question"),
        ("assistant", "Future text\n\n[brand_new_blob content]"),
        ("user", "Last question"),
    ]
    assert summary.messages_skipped == {"empty messages": 1, "unreadable messages": 1}


def test_damaged_conversations_are_skipped_and_named_the_rest_imported(store, tmp_path):
    good = chatgpt_simple(2, title="Good one")
    no_tree = {"title": "No tree", "mapping": None, "id": "x1"}
    only_hidden = ChatGPTBuilder("Only hidden").build()
    path = _write(tmp_path, [no_tree, good, "garbage", only_hidden])

    summary = import_history(store, path)

    assert summary.conversations_imported == 1
    assert store.get_conversation(summary.conversation_ids[0]).title == "Good one"
    assert [(s.title, s.reason) for s in summary.conversations_skipped] == [
        ("No tree", "it has no messages (its message tree is missing)"),
        ("conversation #3 in the file", "it is not a conversation RouteDesk knows"),
        ("Only hidden", "it has no messages with text"),
    ]
    text = "\n".join(summary.lines())
    assert "Imported 1 conversation (4 messages) from ChatGPT." in text
    assert "“No tree”: it has no messages (its message tree is missing)." in text


def test_missing_current_node_takes_the_newest_leaf_and_a_parent_cycle_ends(store, tmp_path):
    b = ChatGPTBuilder("Lost pointer")
    q = b.user("Question")
    b.assistant("Older answer")
    b.last = q
    b.assistant("Newer answer")
    conv = b.build()
    conv["current_node"] = "no-such-node"
    c = ChatGPTBuilder("Cycle")
    u = c.user("Hello?")
    a = c.assistant("Hi.")
    cyc = c.build()
    cyc["mapping"][u]["parent"] = a  # damaged: u -> a -> u
    summary = import_history(store, _write(tmp_path, [conv, cyc]))

    first, second = summary.conversation_ids
    assert _texts(store, first) == [("user", "Question"), ("assistant", "Newer answer")]
    assert _texts(store, second) == [("user", "Hello?"), ("assistant", "Hi.")]


def test_the_zip_chatgpt_sends_is_read_where_it_keeps_conversations_json(store, tmp_path):
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("user.json", json.dumps({"email": "me@example.org"}))
        zf.writestr("chat.html", "<html></html>")
        zf.writestr("conversations.json", json.dumps([chatgpt_simple(3, title="Zipped")]))
        zf.writestr("message_feedback.json", "[]")
    summary = import_history(store, archive)
    assert summary.conversations_imported == 1
    assert summary.messages_imported == 6
    assert store.list_conversations()[0].title == "Zipped"


def test_a_zip_without_conversations_is_refused_plainly(store, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.json", "[]")
        zf.writestr("b.json", "[]")
    with pytest.raises(ImportRefused, match="has no conversations.json inside"):
        import_history(store, archive)


def test_timestamps_missing_or_absurd_fall_back_to_the_conversation(store, tmp_path):
    b = ChatGPTBuilder("Times")
    u = b.user("When?")
    a = b.assistant("Now.")
    conv = b.build()
    conv["mapping"][u]["message"]["create_time"] = None
    conv["mapping"][a]["message"]["create_time"] = 1e30
    conv["create_time"] = "2024-03-01T10:00:00Z"  # some tools rewrite exports with ISO times
    summary = import_history(store, _write(tmp_path, [conv]))
    msgs = store.messages(summary.conversation_ids[0])
    start = datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert store.get_conversation(summary.conversation_ids[0]).created_at == start
    assert [m.created_at for m in msgs] == [start, start]


def test_a_hundred_thousand_messages_import_whole_and_searchable(store, tmp_path):
    from tests.engine.export_factory import write_chatgpt_export

    path = tmp_path / "conversations.json"
    n_convs = write_chatgpt_export(path, 100_000)
    summary = import_history(store, path)
    assert summary.conversations_imported == n_convs
    assert summary.messages_imported == 100_000
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 100_000
    hits = store.search("topic42 prune")
    assert hits and all(h.conversation_title.startswith("Conversation ") for h in hits)


def test_memory_stays_near_one_conversation_not_the_file(store, tmp_path):
    import tracemalloc

    from tests.engine.export_factory import write_chatgpt_export

    path = tmp_path / "conversations.json"
    write_chatgpt_export(path, 10_000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        import_history(store, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # json.load would hold the whole text and several times its size in objects; the
    # import holds a 256 KiB read buffer and one conversation (measured: 1.7 MB for 14 MB)
    assert size > 6_000_000 and peak < 2_500_000, (size, peak)
