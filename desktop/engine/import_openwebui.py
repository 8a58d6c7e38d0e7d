"""Open WebUI's chat export (Settings → Data Controls → Export Chats, or one chat's
"Export chat (.json)"): a JSON array of chats, each ``{id, title, chat, created_at,
updated_at, ...}`` (or the bare ``chat`` object).

A chat's messages are a tree too: ``chat.history.messages`` (id -> ``{parentId,
childrenIds, role, content, timestamp, model, files}``) with ``currentId`` the leaf
on screen; older chats only have the flat ``chat.messages`` list. An answer's
``content`` carries its reasoning and tool calls inline, as ``<details
type="reasoning">`` (or raw ``<think>``) blocks: they are not the answer's text and are
dropped; code-interpreter blocks become a placeholder.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from desktop.core.types import ModelRef, Usage
from desktop.engine.import_common import Notes, Unreadable, as_dict, branch, conversation, stable_id, text_of, when
from desktop.storage import ImportedConversation, ImportedMessage

__all__ = ["SOURCE", "looks_like", "read_conversation", "answer_text"]

SOURCE = "openwebui"
PROVIDER = "openwebui"

_DETAILS = re.compile(r"<details\b([^>]*)>.*?</details>\s*", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>\s*", re.DOTALL | re.IGNORECASE)
_TYPE = re.compile(r"""type\s*=\s*["']([\w-]+)["']""")
_DROPPED = {"reasoning", "tool_calls"}


def looks_like(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    chat = as_dict(obj.get("chat")) or obj
    return isinstance(chat.get("history"), dict) or (
        isinstance(chat.get("messages"), list) and ("models" in chat or "chat" in obj)
    )


def answer_text(content: str) -> str:
    """The answer without its reasoning and tool-call blocks."""

    def details(m: re.Match[str]) -> str:
        t = _TYPE.search(m.group(1))
        kind = t.group(1).lower() if t else ""
        if kind in _DROPPED:
            return ""
        if kind == "code_interpreter":
            return "[code interpreter output]\n\n"
        return m.group(0)  # a <details> the model wrote as part of its answer

    return _THINK.sub("", _DETAILS.sub(details, content)).strip()


def _files(msg: dict[str, Any]) -> list[str]:
    files = msg.get("files")
    if not isinstance(files, list):
        return []
    out = []
    for f in files:
        if not isinstance(f, dict):
            continue
        kind = text_of(f.get("type"))
        name = text_of(f.get("name")).strip()
        if kind == "image" or text_of(f.get("url")).startswith("data:image"):
            out.append("[image]")
        else:
            out.append(f"[file: {name}]" if name else "[file]")
    return out


def _usage(msg: dict[str, Any]) -> Usage | None:
    u = msg.get("usage")
    if not isinstance(u, dict):
        return None
    inp = u.get("prompt_tokens", u.get("input_tokens"))
    out = u.get("completion_tokens", u.get("output_tokens"))
    if not (isinstance(inp, int) and isinstance(out, int) and _count(inp) and _count(out)):
        return None
    return Usage(inp, out)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**9


def _time(node: Any) -> float | None:
    t = node.get("timestamp") if isinstance(node, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None


def read_conversation(obj: Any, notes: Notes) -> ImportedConversation:
    if not isinstance(obj, dict):
        raise Unreadable("it is not a chat")
    chat = as_dict(obj.get("chat")) or obj
    history = as_dict(chat.get("history"))
    nodes = history.get("messages")
    if isinstance(nodes, dict) and nodes:
        path = branch(nodes, history.get("currentId"), parent_key="parentId", children_key="childrenIds",
                      time_of=_time)
        raw = [nodes[k] for k in path]
    elif isinstance(chat.get("messages"), list):
        raw = list(chat["messages"])
    else:
        raise Unreadable("it has no messages")
    title = text_of(obj.get("title")).strip() or text_of(chat.get("title")).strip() or "Untitled (Open WebUI)"
    source_id = text_of(obj.get("id")) or text_of(chat.get("id"))
    if not source_id:
        source_id = stable_id(title, chat.get("timestamp"), [text_of(m.get("id")) for m in raw if isinstance(m, dict)])
    started = when(obj.get("created_at")) or when(chat.get("timestamp"))
    models = chat.get("models")
    default_model = text_of(models[0]) if isinstance(models, list) and models else ""
    last = started
    messages: list[ImportedMessage] = []
    for msg in raw:
        if not isinstance(msg, dict):
            notes.skip("unreadable messages")
            continue
        role = text_of(msg.get("role"))
        if role not in ("user", "assistant", "system"):
            notes.skip("tool and browsing results" if role == "tool" else "unreadable messages")
            continue
        content = msg.get("content")
        if not isinstance(content, str):
            content = "\n".join(text_of(p.get("text")) for p in content if isinstance(p, dict)) \
                if isinstance(content, list) else ""
        text = answer_text(content) if role == "assistant" else content.strip()
        text = "\n\n".join([t for t in (text, *_files(msg)) if t])
        if not text:
            notes.skip("empty messages")
            continue
        created = when(msg.get("timestamp")) or last or datetime.now(UTC)
        last = created
        model = text_of(msg.get("model")) or (default_model if role == "assistant" else "")
        messages.append(
            ImportedMessage(
                role=role,
                text=text,
                created_at=created,
                model=ModelRef(PROVIDER, model) if role == "assistant" and model else None,
                usage=_usage(msg) if role == "assistant" else None,
            )
        )
    return conversation(SOURCE, source_id, title, started, when(obj.get("updated_at")), messages)
