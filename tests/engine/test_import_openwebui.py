"""Importing Open WebUI's chat export: the branch on screen (``currentId``), answers
without their inline reasoning and tool-call blocks, files as placeholders."""

from __future__ import annotations

import json

from desktop.engine.history_import import import_history
from desktop.engine.import_openwebui import answer_text
from tests.engine.export_factory import openwebui_chat


def _import(store, tmp_path, chats):
    path = tmp_path / "chat-export-1700000000000.json"
    path.write_text(json.dumps(chats), encoding="utf-8")
    return import_history(store, path)


def test_current_branch_without_reasoning_or_tool_calls(store, tmp_path):
    summary = _import(store, tmp_path, [openwebui_chat("Haiku time")])
    assert summary.formats == ["openwebui"]
    conv = store.get_conversation(summary.conversation_ids[0])
    assert conv.title == "Haiku time"
    msgs = store.messages(conv.id)
    assert [(m.role, m.text) for m in msgs] == [
        ("user", "Write a haiku about rain"),
        ("assistant", "Soft rain on the roof\nthe kettle hums in the dark\nspring is listening"),
        ("user", "Now one about snow\n\n[image]"),
        ("assistant", "White hush on the pines"),
    ]
    assert [str(m.model) for m in msgs if m.role == "assistant"] == ["openwebui/llama3.2:latest",
                                                                     "openwebui/qwen2.5:7b"]
    assert msgs[1].usage.input_tokens == 12 and msgs[1].usage.output_tokens == 20
    assert "abandoned edit" not in json.dumps([m.text for m in msgs])


def test_bare_chat_objects_and_flat_message_lists_are_read_too(store, tmp_path):
    full = openwebui_chat("Flat")
    chat = full["chat"]
    chat["id"] = "flat-1"
    del chat["history"]  # older exports: only the list
    summary = _import(store, tmp_path, [chat])
    texts = [m.text for m in store.messages(summary.conversation_ids[0])]
    assert texts[0] == "Write a haiku about rain" and len(texts) == 4


def test_answer_text_drops_reasoning_and_tool_blocks_but_keeps_the_models_own_details():
    content = (
        "<think>private chain of thought</think>\n"
        '<details type="reasoning" done="true" duration="2">\n<summary>Thought for 2 seconds</summary>\n'
        "&gt; hidden\n</details>\n"
        '<details type="code_interpreter" done="true"><summary>Analyzed</summary>```py\n1\n```</details>\n'
        "The answer.\n\n<details><summary>Spoiler</summary>It was the butler.</details>"
    )
    assert answer_text(content) == (
        "[code interpreter output]\n\nThe answer.\n\n<details><summary>Spoiler</summary>It was the butler.</details>"
    )


def test_a_message_that_is_only_reasoning_counts_as_empty(store, tmp_path):
    chat = openwebui_chat("Thinking only")
    msgs = chat["chat"]["history"]["messages"]
    leaf = chat["chat"]["history"]["currentId"]
    msgs[leaf]["content"] = '<details type="reasoning" done="false"><summary>Thinking…</summary></details>'
    msgs[leaf]["role"] = "assistant"
    summary = _import(store, tmp_path, [chat])
    assert summary.messages_skipped == {"empty messages": 1}
    assert [m.role for m in store.messages(summary.conversation_ids[0])] == ["user", "assistant", "user"]
