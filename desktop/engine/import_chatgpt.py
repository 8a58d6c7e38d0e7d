"""ChatGPT's data export (``conversations.json``, alone or in its .zip).

Each conversation is a tree of nodes (``mapping``: id -> ``{message, parent,
children}``); regenerated answers and edited prompts are sibling branches, and
``current_node`` is the leaf the user last saw. We import that branch, root to leaf.

On the way: hidden system nodes are left out, but custom instructions
(``user_editable_context``) become the conversation's system prompt; tool calls
(an assistant message addressed to a tool), tool and browsing results, memory
updates and reasoning summaries are left out; code-interpreter output, images,
audio and attached files become a short placeholder in the message they belong to;
consecutive assistant pieces (text, a generated image, more text) form one answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from desktop.core.types import ModelRef
from desktop.engine.import_common import (
    Notes,
    Unreadable,
    as_dict,
    branch,
    conversation,
    join_parts,
    stable_id,
    text_of,
    when,
)
from desktop.storage import ImportedConversation, ImportedMessage

__all__ = ["SOURCE", "looks_like", "read_conversation"]

SOURCE = "chatgpt"
PROVIDER = "chatgpt"

_TOOL_RESULTS = "tool and browsing results"
_TOOL_CALLS = "tool calls"
_HIDDEN = "hidden system messages"
_EMPTY = "empty messages"
_REASONING = "reasoning summaries"
_MEMORY = "memory updates"
_UNREADABLE = "unreadable messages"

_SKIPPED_TYPES = {
    "tether_browsing_display": _TOOL_RESULTS,
    "tether_quote": _TOOL_RESULTS,
    "sonic_webpage": _TOOL_RESULTS,
    "system_error": _TOOL_RESULTS,
    "computer_output": _TOOL_RESULTS,
    "thoughts": _REASONING,
    "reasoning_recap": _REASONING,
    "model_editable_context": _MEMORY,
}


def looks_like(obj: Any) -> bool:
    return isinstance(obj, dict) and "mapping" in obj


def _time(node: Any) -> float | None:
    msg = node.get("message") if isinstance(node, dict) else None
    t = msg.get("create_time") if isinstance(msg, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None


def _part(part: Any) -> str:
    """One element of ``content.parts``: text, or a placeholder for what isn't."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = text_of(part.get("content_type"))
    if kind == "audio_transcription":
        return text_of(part.get("text"))
    if kind == "image_asset_pointer" or "image" in kind:
        return "[image]"
    if "audio" in kind or "video" in kind:
        return "[audio]"
    if isinstance(part.get("text"), str):
        return part["text"]
    return "[attachment]"


def _has_text(content: dict[str, Any]) -> bool:
    parts = content.get("parts")
    if isinstance(parts, list):
        return any((isinstance(p, str) and p.strip()) or isinstance(p, dict) for p in parts)
    return bool(text_of(content.get("text")).strip())


def _instructions(content: dict[str, Any]) -> str:
    pieces = []
    profile = text_of(content.get("user_profile")).strip()
    wanted = text_of(content.get("user_instructions")).strip()
    if profile:
        pieces.append(profile)
    if wanted:
        pieces.append(wanted)
    return "\n\n".join(pieces)


def _attachments(meta: dict[str, Any]) -> list[str]:
    files = meta.get("attachments")
    if not isinstance(files, list):
        return []
    out = []
    for f in files:
        name = text_of(f.get("name")).strip() if isinstance(f, dict) else ""
        out.append(f"[file: {name}]" if name else "[file]")
    return out


def _piece(msg: dict[str, Any], notes: Notes) -> tuple[str, str] | None:
    """(role, text) for one node's message, or None when it is left out (counted)."""
    author = msg.get("author")
    role = text_of(author.get("role")) if isinstance(author, dict) else ""
    content = msg.get("content")
    if not isinstance(content, dict):
        notes.skip(_UNREADABLE)
        return None
    meta = as_dict(msg.get("metadata"))
    kind = text_of(content.get("content_type")) or "text"
    if kind == "user_editable_context":
        text = _instructions(content)
        return ("system", text) if text else None
    if kind in _SKIPPED_TYPES:
        notes.skip(_SKIPPED_TYPES[kind])
        return None
    hidden = bool(meta.get("is_visually_hidden_from_conversation"))
    if role == "system":
        if hidden or not _has_text(content):  # every export opens with an empty one: not worth a mention
            if _has_text(content):
                notes.skip(_HIDDEN)
            return None
    elif role == "tool":
        if kind == "execution_output":
            return "assistant", "[code interpreter output]"
        parts = content.get("parts")
        if kind == "multimodal_text" and isinstance(parts, list) and any(_part(p) == "[image]" for p in parts):
            return "assistant", "\n".join("[image]" for p in parts if _part(p) == "[image]")
        notes.skip(_TOOL_RESULTS)
        return None
    elif role == "assistant":
        recipient = msg.get("recipient")
        if isinstance(recipient, str) and recipient not in ("all", ""):
            notes.skip(_TOOL_CALLS)
            return None
    elif role != "user":
        notes.skip(_UNREADABLE)
        return None
    if hidden:
        if _has_text(content):
            notes.skip(_HIDDEN)
        return None
    if kind == "code":
        code = text_of(content.get("text"))
        lang = text_of(content.get("language")).strip()
        text = f"```{'' if lang == 'unknown' else lang}\n{code}\n```" if code.strip() else ""
    elif kind == "execution_output":
        text = "[code interpreter output]"
    elif isinstance(content.get("parts"), list):
        text = "\n".join(p for p in (_part(x) for x in content["parts"]) if p)
    elif isinstance(content.get("text"), str):
        text = content["text"]
    else:
        text = f"[{kind} content]"
    pieces = [text] if text.strip() else []
    if role == "user":
        pieces += _attachments(meta)
    text = "\n\n".join(pieces)
    if not text.strip():
        notes.skip(_EMPTY)
        return None
    return role, text


def read_conversation(obj: Any, notes: Notes) -> ImportedConversation:
    if not isinstance(obj, dict):
        raise Unreadable("it is not a conversation")
    mapping = obj.get("mapping")
    if not isinstance(mapping, dict):
        raise Unreadable("it has no messages (its message tree is missing)")
    title = text_of(obj.get("title")).strip() or "Untitled (ChatGPT)"
    source_id = text_of(obj.get("conversation_id")) or text_of(obj.get("id"))
    if not source_id:
        source_id = stable_id(title, obj.get("create_time"), sorted(mapping)[:50])
    default_model = text_of(obj.get("default_model_slug"))
    started = when(obj.get("create_time"))
    system: list[str] = []
    turns: list[dict[str, Any]] = []  # role, texts, model, created
    last_time = started
    for node_id in branch(mapping, obj.get("current_node"), parent_key="parent", children_key="children",
                          time_of=_time):
        node = mapping[node_id]
        msg = node.get("message") if isinstance(node, dict) else None
        if msg is None:
            continue
        if not isinstance(msg, dict):
            notes.skip(_UNREADABLE)
            continue
        piece = _piece(msg, notes)
        if piece is None:
            continue
        role, text = piece
        created = when(msg.get("create_time")) or last_time
        last_time = created or last_time
        if role == "system" and not turns:  # instructions ahead of the first prompt: the system prompt
            system.append(text)
            continue
        meta = as_dict(msg.get("metadata"))
        slug = text_of(meta.get("model_slug"))
        if turns and role == "assistant" and turns[-1]["role"] == "assistant":
            turns[-1]["texts"].append(text)
            turns[-1]["model"] = slug or turns[-1]["model"]
            continue
        turns.append({"role": role, "texts": [text], "model": slug, "created": created})
    fallback = started or last_time or datetime.now(UTC)
    messages: list[ImportedMessage] = []
    if system:
        messages.append(ImportedMessage(role="system", text="\n\n".join(system), created_at=fallback))
    for t in turns:
        model = t["model"] or (default_model if t["role"] == "assistant" else "")
        messages.append(
            ImportedMessage(
                role=t["role"],
                text=join_parts(t["texts"]),
                created_at=t["created"] or fallback,
                model=ModelRef(PROVIDER, model) if model and t["role"] == "assistant" else None,
            )
        )
    return conversation(SOURCE, source_id, title, started, when(obj.get("update_time")), messages)
