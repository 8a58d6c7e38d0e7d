"""Export history: Markdown to read, and JSON that RouteDesk imports back without loss.

Both write to a text stream one conversation at a time, so exporting everything
holds one conversation in memory, not the history. The JSON keeps every stored
field of every message (status, model, route, tokens, exact cost, error, attempts,
times) and where each conversation came from, which is what makes importing it twice,
or into the database it came from, a no-op. Both surfaces call these functions.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.engine.import_routedesk import FORMAT, VERSION, iso
from desktop.storage import ConversationRecord, MessageRecord, Store, conversation_source

__all__ = [
    "ExportRefused",
    "FORMATS",
    "conversations_to_export",
    "export_json",
    "export_markdown",
    "export_history",
    "export_to_file",
]

FORMATS = ("markdown", "json")
_ORIGIN = {"chatgpt": "ChatGPT", "openwebui": "Open WebUI"}


class ExportRefused(RouteDeskError):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(ErrorKind.MISCONFIGURED, message, fix)


def conversations_to_export(store: Store, ids: Sequence[int] | None) -> list[ConversationRecord]:
    """The conversations named (in that order; deleted ones too, when named), or every
    conversation not deleted, oldest first. An unknown id is refused before anything is written."""
    if ids is None:
        return sorted(store.list_conversations(), key=lambda c: c.id)
    out = []
    missing = []
    for conv_id in ids:
        rec = store.get_conversation(conv_id)
        if rec is None:
            missing.append(str(conv_id))
        else:
            out.append(rec)
    if missing:
        raise ExportRefused(
            f"There is no conversation {', '.join(missing)}.",
            "Run `routedesk history` to see the conversations and their numbers, or use --all.",
        )
    return out


# --- JSON ------------------------------------------------------------------------------


def _message_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "role": m.role,
        "status": m.status,
        "text": m.text,
        "model": None if m.model is None else str(m.model),
        "route": None if m.route is None else m.route.to_dict(),
        "usage": None if m.usage is None else m.usage.to_dict(),
        "cost_usd": None if m.cost_usd is None else str(m.cost_usd),
        "error": None if m.error is None else m.error.to_dict(),
        "ttft_ms": m.ttft_ms,
        "fallback_used": m.fallback_used,
        "served_model": m.served_model,
        "attempts": [
            {
                "model": str(a.ref),
                "ok": a.ok,
                "error": None if a.error is None else a.error.to_dict(),
                "usage": None if a.usage is None else a.usage.to_dict(),
                "started_at": iso(a.started_at),
                "ended_at": iso(a.ended_at),
            }
            for a in m.attempts
        ],
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }


def export_json(store: Store, conversations: Iterable[ConversationRecord], out: TextIO,
                *, now: datetime | None = None) -> int:
    """Write RouteDesk's JSON export; returns how many conversations were written."""
    header = {"format": FORMAT, "version": VERSION, "exported_at": iso(now or datetime.now(UTC))}
    out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "conversations": [')
    n = 0
    for conv in conversations:
        system, source_id = conversation_source(store.conn, conv.id)
        record = {
            "source": {"system": system, "id": source_id},
            "title": conv.title,
            "created_at": iso(conv.created_at),
            "updated_at": iso(conv.updated_at),
            "deleted_at": iso(conv.deleted_at),
            "messages": [_message_json(m) for m in store.messages(conv.id)],
        }
        out.write(("," if n else "") + "\n" + json.dumps(record, ensure_ascii=False))
        n += 1
    out.write("\n]}\n")
    return n


# --- Markdown --------------------------------------------------------------------------


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _usd(amount: Decimal) -> str:
    if amount == 0:
        return "$0"
    if abs(amount) < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


def _answer_line(m: MessageRecord, imported: bool) -> str:
    bits = [f"**{m.model}**" if m.model is not None else "**model unknown**"]
    if m.cost_usd is not None:
        bits.append(_usd(m.cost_usd))
    elif imported:
        bits.append("cost not recorded (imported)")
    else:
        bits.append("price unknown")
    if m.usage is not None:
        bits.append(f"{m.usage.input_tokens:,} tokens in, {m.usage.output_tokens:,} out")
    if m.route is not None and m.route.choice in ("strong", "weak"):
        score = "" if m.route.score is None else f", score {m.route.score:.2f}"
        bits.append(f"routed {m.route.choice}{score}")
    if m.fallback_used:
        bits.append("fallback")
    if m.status != "complete":
        bits.append(m.status)
    return "— " + " · ".join(bits)


def _fence_safe(text: str) -> str:
    """The text as written; an unclosed code fence is closed so it can't swallow what follows."""
    fences = sum(1 for line in text.splitlines() if line.lstrip().startswith("```"))
    return text + "\n```" if fences % 2 else text


def _markdown(store: Store, conv: ConversationRecord, out: TextIO) -> None:
    system, _ = conversation_source(store.conn, conv.id)
    messages = store.messages(conv.id)
    out.write(f"# {conv.title.strip() or 'Untitled'}\n\n")
    facts = [f"Started {_date(conv.created_at)}", f"last activity {_date(conv.updated_at)}",
             f"{len(messages):,} message{'' if len(messages) == 1 else 's'}"]
    if system in _ORIGIN:
        facts.append(f"imported from {_ORIGIN[system]}")
    out.write("*" + " · ".join(facts) + "*\n\n")
    imported = system in _ORIGIN
    for m in messages:
        if m.role == "system":
            quoted = "\n".join("> " + line if line else ">" for line in m.text.splitlines())
            out.write(f"**System prompt**\n\n{quoted}\n\n")
            continue
        who = "You" if m.role == "user" else "Assistant"
        out.write(f"## {who} · {_date(m.created_at)}\n\n")
        if m.text:
            out.write(_fence_safe(m.text.rstrip()) + "\n\n")
        if m.role == "assistant":
            if m.error is not None and m.status != "complete":
                out.write(f"> {m.error.message}\n\n")
            out.write(_answer_line(m, imported) + "\n\n")
    out.write("\n")


def export_markdown(store: Store, conversations: Iterable[ConversationRecord], out: TextIO) -> int:
    n = 0
    for conv in conversations:
        if n:
            out.write("---\n\n")
        _markdown(store, conv, out)
        n += 1
    return n


def export_history(store: Store, ids: Sequence[int] | None, out: TextIO, *, format: str = "markdown",
                   now: datetime | None = None) -> int:
    """Export ``ids`` (None: every conversation) in ``format``; returns the count written."""
    if format not in FORMATS:
        raise ExportRefused(f"{format!r} is not an export format.", "Use --format markdown or --format json.")
    convs = conversations_to_export(store, ids)
    if format == "json":
        return export_json(store, convs, out, now=now)
    return export_markdown(store, convs, out)


def export_to_file(store: Store, ids: Sequence[int] | None, path: str | os.PathLike[str], *,
                   format: str = "markdown", now: datetime | None = None) -> int:
    """Export into ``path``, written beside it and renamed into place: an export that
    fails (a full disk, an unknown id) leaves no half file and keeps an older one."""
    target = Path(path)
    if target.is_dir():
        raise ExportRefused(f"{target} is a folder.", "Give a file name, for example chats.md.")
    if format not in FORMATS:
        raise ExportRefused(f"{format!r} is not an export format.", "Use markdown or json.")
    convs = conversations_to_export(store, ids)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".routedesk-export-", dir=target.parent)
    except OSError as exc:
        raise ExportRefused(f"RouteDesk can't write in {target.parent} ({exc.strerror or exc}).",
                            "Choose another folder.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            n = export_json(store, convs, f, now=now) if format == "json" else export_markdown(store, convs, f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
