"""Exports shaped like the real ones, built from the documented formats.

ChatGPT: ``conversations.json`` is an array of conversations, each a tree of nodes
(``mapping``: id -> ``{id, message, parent, children}``) with ``current_node`` the
leaf last shown. Messages carry ``author.role`` (system/user/assistant/tool),
``content.content_type`` (text, multimodal_text, code, execution_output,
tether_browsing_display, thoughts, reasoning_recap, user_editable_context...),
``recipient`` (``all``, or the tool an assistant message calls) and
``metadata.model_slug`` / ``is_visually_hidden_from_conversation``.

Open WebUI: an array of ``{id, user_id, title, chat: {history: {messages, currentId},
messages, models, timestamp}, created_at, updated_at, ...}``; answers hold their
reasoning inline in ``<details type="reasoning">`` blocks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0  # 2023-11-14


class ChatGPTBuilder:
    """One ChatGPT conversation, node by node (each node a child of the last unless told)."""

    def __init__(self, title: str = "A chat", *, conv_id: str | None = None, t: float = T0,
                 model: str = "gpt-4o") -> None:
        self.id = conv_id or str(uuid.uuid4())
        self.title = title
        self.t = t
        self.start = t
        self.model = model
        self.mapping: dict[str, Any] = {}
        root = "client-created-root-" + self.id[:8]
        self.mapping[root] = {"id": root, "message": None, "parent": None, "children": []}
        self.last = root
        self.current: str | None = None
        self.message(role="system", parts=[""], hidden=True)

    def message(self, *, role: str, parts: list[Any] | None = None, content_type: str = "text",
                content: dict[str, Any] | None = None, parent: str | None = None, hidden: bool = False,
                recipient: str = "all", model: str | None = None, name: str | None = None,
                metadata: dict[str, Any] | None = None) -> str:
        node_id = str(uuid.uuid4())
        parent = parent or self.last
        self.t += 7.5
        meta: dict[str, Any] = dict(metadata or {})
        if hidden:
            meta["is_visually_hidden_from_conversation"] = True
        if role == "assistant":
            meta.setdefault("model_slug", model or self.model)
            meta.setdefault("finish_details", {"type": "stop", "stop_tokens": [200002]})
        body = content if content is not None else {"content_type": content_type, "parts": parts or []}
        self.mapping[node_id] = {
            "id": node_id,
            "message": {
                "id": node_id,
                "author": {"role": role, "name": name, "metadata": {}},
                "create_time": self.t,
                "update_time": None,
                "content": body,
                "status": "finished_successfully",
                "end_turn": True if role == "assistant" else None,
                "weight": 1.0,
                "metadata": meta,
                "recipient": recipient,
                "channel": None,
            },
            "parent": parent,
            "children": [],
        }
        self.mapping[parent]["children"].append(node_id)
        self.last = node_id
        return node_id

    def user(self, text: str, **kw: Any) -> str:
        return self.message(role="user", parts=[text], **kw)

    def assistant(self, text: str, **kw: Any) -> str:
        return self.message(role="assistant", parts=[text], **kw)

    def instructions(self, profile: str, wanted: str) -> str:
        return self.message(role="user", hidden=True, content={
            "content_type": "user_editable_context", "user_profile": profile, "user_instructions": wanted})

    def browse(self, query: str, result: str) -> None:
        self.message(role="assistant", recipient="browser",
                     content={"content_type": "code", "language": "unknown", "text": f"search({query!r})"})
        self.message(role="tool", name="browser", content={
            "content_type": "tether_browsing_display", "result": result, "summary": None})
        self.message(role="tool", name="browser", content={
            "content_type": "tether_quote", "url": "https://example.org", "domain": "example.org",
            "text": result, "title": "Example"})

    def run_code(self, code: str, output: str) -> None:
        self.message(role="assistant", recipient="python",
                     content={"content_type": "code", "language": "python", "text": code})
        self.message(role="tool", name="python", content={"content_type": "execution_output", "text": output})

    def dalle(self, prompt: str) -> None:
        self.message(role="assistant", recipient="dalle.text2im",
                     content={"content_type": "code", "language": "json", "text": json.dumps({"prompt": prompt})})
        self.message(role="tool", name="dalle.text2im", content={
            "content_type": "multimodal_text",
            "parts": [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-abc",
                       "size_bytes": 412_000, "width": 1024, "height": 1024, "metadata": {"dalle": {}}}]})

    def thoughts(self, summary: str) -> None:
        self.message(role="assistant", content={
            "content_type": "thoughts", "thoughts": [{"summary": summary, "content": "..."}],
            "source_analysis_msg_id": "x"})
        self.message(role="assistant", content={"content_type": "reasoning_recap", "content": "Thought for 4 seconds"})

    def build(self, *, current: str | None = None) -> dict[str, Any]:
        return {
            "title": self.title,
            "create_time": self.start,
            "update_time": self.t,
            "mapping": self.mapping,
            "moderation_results": [],
            "current_node": current or self.current or self.last,
            "plugin_ids": None,
            "conversation_id": self.id,
            "conversation_template_id": None,
            "gizmo_id": None,
            "is_archived": False,
            "safe_urls": [],
            "default_model_slug": self.model,
            "id": self.id,
        }


def chatgpt_simple(n_turns: int, *, title: str = "Chat", conv_id: str | None = None, t: float = T0,
                   words: str = "") -> dict[str, Any]:
    b = ChatGPTBuilder(title, conv_id=conv_id, t=t)
    for i in range(n_turns):
        b.user(f"Question {i} about {words or 'gardening'}: how do I prune roses in spring?")
        b.assistant(f"Answer {i}: cut just above an outward-facing bud.\n\n```python\nprint('rose {i}')\n```\n"
                    f"Then feed them {words}.")
    return b.build()


def write_chatgpt_export(path: Path, n_messages: int, *, per_conversation: int = 40) -> int:
    """A ``conversations.json`` with ``n_messages`` visible messages, written as a stream
    (the test never holds all of it). Returns the number of conversations."""
    turns = max(1, per_conversation // 2)
    n_convs = max(1, n_messages // (turns * 2))
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i in range(n_convs):
            if i:
                f.write(",")
            conv = chatgpt_simple(turns, title=f"Conversation {i}", conv_id=f"conv-{i:06d}",
                                  t=T0 + i * 3600, words=f"topic{i % 97}")
            json.dump(conv, f, ensure_ascii=False)
        f.write("]")
    return n_convs


def openwebui_chat(title: str = "Local chat", *, chat_id: str | None = None, t: int = int(T0)) -> dict[str, Any]:
    """An Open WebUI chat with an edited prompt (two branches) and a reasoning answer."""
    ids = [str(uuid.uuid4()) for _ in range(5)]
    u1, a_old, u2, a_new, u_alt = ids
    reasoning = ('<details type="reasoning" done="true" duration="3">\n<summary>Thought for 3 seconds</summary>\n'
                 '> The user wants a haiku. Count syllables.\n</details>\n')
    msgs = {
        u1: {"id": u1, "parentId": None, "childrenIds": [a_old], "role": "user", "content": "Write a haiku about rain",
             "timestamp": t + 1, "models": ["llama3.2:latest"]},
        a_old: {"id": a_old, "parentId": u1, "childrenIds": [u2, u_alt], "role": "assistant",
                "content": reasoning + "Soft rain on the roof\nthe kettle hums in the dark\nspring is listening",
                "model": "llama3.2:latest", "modelName": "llama3.2:latest", "timestamp": t + 5, "done": True,
                "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}},
        u_alt: {"id": u_alt, "parentId": a_old, "childrenIds": [], "role": "user", "content": "an abandoned edit",
                "timestamp": t + 8},
        u2: {"id": u2, "parentId": a_old, "childrenIds": [a_new], "role": "user", "content": "Now one about snow",
             "timestamp": t + 9, "files": [{"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="}]},
        a_new: {"id": a_new, "parentId": u2, "childrenIds": [], "role": "assistant",
                "content": '<details type="tool_calls" done="true"><summary>Tool Calls</summary>search()</details>\n'
                           "White hush on the pines", "model": "qwen2.5:7b", "timestamp": t + 12, "done": True},
    }
    cid = chat_id or str(uuid.uuid4())
    return {
        "id": cid, "user_id": "user-1", "title": title,
        "chat": {"id": "", "title": title, "models": ["llama3.2:latest"], "params": {},
                 "history": {"messages": msgs, "currentId": a_new},
                 "messages": [msgs[k] for k in (u1, a_old, u2, a_new)], "tags": [], "timestamp": (t + 1) * 1000,
                 "files": []},
        "updated_at": t + 12, "created_at": t, "share_id": None, "archived": False, "pinned": False,
        "meta": {"tags": []}, "folder_id": None,
    }


def iter_json_array(items: Iterator[Any]) -> Iterator[str]:
    yield "["
    for i, item in enumerate(items):
        yield ("," if i else "") + json.dumps(item, ensure_ascii=False)
    yield "]"
