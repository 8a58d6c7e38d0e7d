"""Import history: ChatGPT's export (``conversations.json`` or its .zip), Open WebUI's
chat export, and RouteDesk's own JSON. Both surfaces call :func:`import_history`.

The file is streamed (one conversation in memory at a time) and written in one
transaction: a file that turns out damaged or cut off, or an import the user cancels,
changes nothing. Within a readable file, what can't be read is skipped and counted,
and the rest imported. Each conversation keeps its id from where it came from, so
the same file twice imports once. Imported answers cost nothing in the spend ledger
and teach the router nothing (see :mod:`desktop.storage.imports`).
"""

from __future__ import annotations

import os
import sqlite3
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.engine import import_chatgpt, import_openwebui, import_routedesk
from desktop.engine.import_common import Notes, Unreadable, as_dict, text_of
from desktop.engine.json_stream import DamagedFile, JsonStream
from desktop.storage import ImportedConversation, ImportWriter, Store

__all__ = [
    "ImportCancelled",
    "ImportProgress",
    "ImportRefused",
    "ImportSummary",
    "SkippedConversation",
    "import_history",
]

_FORMAT_NAMES = {"chatgpt": "ChatGPT", "openwebui": "Open WebUI", "routedesk": "RouteDesk"}
_PROGRESS_EVERY = 0.1  # seconds between progress reports
_LISTED_SKIPS = 10


class ImportRefused(RouteDeskError):
    """The file can't be imported at all; nothing was changed."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(ErrorKind.BAD_RESPONSE, message, fix)


class ImportCancelled(Exception):
    """The user stopped the import; nothing was changed."""


@dataclass(frozen=True)
class ImportProgress:
    bytes_done: int
    bytes_total: int
    conversations: int  # imported so far
    messages: int

    @property
    def fraction(self) -> float:
        return 0.0 if self.bytes_total <= 0 else min(1.0, self.bytes_done / self.bytes_total)


@dataclass(frozen=True)
class SkippedConversation:
    title: str
    reason: str


@dataclass
class ImportSummary:
    path: str
    formats: list[str] = field(default_factory=list)  # "chatgpt", "openwebui", "routedesk"
    conversations_imported: int = 0
    messages_imported: int = 0
    conversations_already: int = 0  # imported before (or written here): left alone
    conversations_skipped: list[SkippedConversation] = field(default_factory=list)
    messages_skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    conversation_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "formats": list(self.formats),
            "conversations_imported": self.conversations_imported,
            "messages_imported": self.messages_imported,
            "conversations_already_imported": self.conversations_already,
            "conversations_skipped": [{"title": s.title, "reason": s.reason} for s in self.conversations_skipped],
            "messages_skipped": dict(self.messages_skipped),
            "conversation_ids": list(self.conversation_ids),
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The summary in plain words, one sentence a line (the CLI and the window)."""
        origin = " and ".join(_FORMAT_NAMES.get(f, f) for f in self.formats) or "the file"
        out = [
            f"Imported {_n(self.conversations_imported, 'conversation')} "
            f"({_n(self.messages_imported, 'message')}) from {origin}."
        ]
        if self.conversations_already:
            out.append(f"Already in RouteDesk (imported before), left as they were: "
                       f"{_n(self.conversations_already, 'conversation')}.")
        if self.conversations_skipped:
            out.append(f"Skipped {_n(len(self.conversations_skipped), 'conversation')} that could not be read:")
            for s in self.conversations_skipped[:_LISTED_SKIPS]:
                out.append(f"  “{s.title}”: {s.reason}.")
            if len(self.conversations_skipped) > _LISTED_SKIPS:
                out.append(f"  … and {len(self.conversations_skipped) - _LISTED_SKIPS} more.")
        if self.messages_skipped:
            total = sum(self.messages_skipped.values())
            parts = ", ".join(f"{n:,} {reason}" for reason, n in
                              sorted(self.messages_skipped.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(f"Left out {_n(total, 'message')} that are not part of the chat: {parts}.")
        return out


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- the source file -------------------------------------------------------------------


@contextmanager
def _open_export(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """The JSON bytes to read and their size: the file itself, or the
    ``conversations.json`` inside a ChatGPT .zip (or a folder holding one)."""
    if path.is_dir():
        inner = path / "conversations.json"
        if not inner.is_file():
            raise ImportRefused(f"{path} is a folder without a conversations.json in it.",
                                "Choose the export's conversations.json or the .zip it came in.")
        path = inner
    if not path.is_file():
        raise ImportRefused(f"There is no file at {path}.", "Check the path and try again.")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(".json")]
                chosen = [i for i in names if os.path.basename(i.filename).lower() == "conversations.json"]
                if not chosen and len(names) == 1:
                    chosen = names
                if not chosen:
                    raise ImportRefused(f"{path.name} has no conversations.json inside.",
                                        "Use the .zip ChatGPT sends (Settings → Data controls → Export data), "
                                        "or the JSON file itself.")
                info = min(chosen, key=lambda i: i.filename.count("/"))
                with zf.open(info) as member:
                    yield member, info.file_size
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DamagedFile(f"the .zip is damaged ({exc})") from None
        return
    with open(path, "rb") as f:
        yield f, os.fstat(f.fileno()).st_size


# --- the import --------------------------------------------------------------------------


def _reader(obj: Any) -> tuple[str, Callable[[Any, Notes], ImportedConversation]] | None:
    if isinstance(obj, dict) and isinstance(obj.get("source"), dict) and isinstance(obj.get("messages"), list):
        return "routedesk", import_routedesk.read_conversation
    if import_chatgpt.looks_like(obj):
        return "chatgpt", import_chatgpt.read_conversation
    if import_openwebui.looks_like(obj):
        return "openwebui", import_openwebui.read_conversation
    return None


def _title(obj: Any, index: int) -> str:
    if isinstance(obj, dict):
        chat = as_dict(obj.get("chat"))
        title = text_of(obj.get("title")).strip() or text_of(chat.get("title")).strip()
        if title:
            return title[:80]
    return f"conversation #{index + 1} in the file"


def _check_version(header: dict[str, Any], path: Path) -> None:
    version = header.get("version")
    if import_routedesk.is_header(header) and isinstance(version, int) and version > import_routedesk.VERSION:
        raise ImportRefused(
            f"{path.name} was exported by a newer RouteDesk (format version {version}); this one reads "
            f"version {import_routedesk.VERSION}. Nothing was imported.",
            "Update RouteDesk, then import the file again.",
        )


def import_history(
    store: Store,
    path: str | os.PathLike[str],
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import every readable conversation in ``path`` (see the module docstring).

    Raises :class:`ImportRefused` (nothing changed) for a file that is missing, damaged,
    cut off or of no known format, and :class:`ImportCancelled` (nothing changed) when
    ``should_stop()`` turns true. ``progress`` is called from this thread, at most every
    0.1 s and once at the end."""
    started = time.monotonic()
    path = Path(path)
    summary = ImportSummary(path=str(path))
    notes = Notes()
    formats: Counter[str] = Counter()
    last_report = 0.0
    try:
        with _open_export(path) as (raw, total), ImportWriter(store.conn, now=now) as writer:
            stream = JsonStream(raw)

            def report(force: bool = False) -> None:
                nonlocal last_report
                if progress is None:
                    return
                t = time.monotonic()
                if force or t - last_report >= _PROGRESS_EVERY:
                    last_report = t
                    progress(ImportProgress(stream.bytes_read if not force else max(total, stream.bytes_read),
                                            total, summary.conversations_imported, summary.messages_imported))

            for index, obj in enumerate(stream):
                if should_stop is not None and should_stop():
                    raise ImportCancelled()
                if index == 0:
                    _check_version(stream.header, path)
                found = _reader(obj)
                if found is None:
                    summary.conversations_skipped.append(
                        SkippedConversation(_title(obj, index), "it is not a conversation RouteDesk knows"))
                    continue
                kind, read = found
                formats[kind] += 1
                try:
                    conv = read(obj, notes)
                except Unreadable as exc:
                    summary.conversations_skipped.append(SkippedConversation(_title(obj, index), str(exc)))
                    continue
                if writer.known(conv.source, conv.source_id):
                    summary.conversations_already += 1
                    continue
                summary.conversation_ids.append(writer.add(conv))
                summary.conversations_imported += 1
                summary.messages_imported += len(conv.messages)
                report()
            if summary.conversations_skipped and not formats:
                raise ImportRefused(
                    f"{path.name} is not a ChatGPT, Open WebUI or RouteDesk export: nothing in it looks like a "
                    "conversation.",
                    "ChatGPT: Settings → Data controls → Export data, then import the .zip. "
                    "Open WebUI: Settings → Data Controls → Export Chats.",
                )
            report(force=True)
    except DamagedFile as exc:
        raise ImportRefused(
            f"RouteDesk can't import {path.name}: {exc}. Nothing was imported.",
            "Download the export again (the file may be incomplete) and import the new copy."
            if exc.truncated else "Export your history again and import the new file.",
        ) from None
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise ImportRefused("RouteDesk's database is busy (another import, or an answer being saved). "
                            "Nothing was imported.", "Try again in a moment.") from None
    except OSError as exc:
        raise ImportRefused(f"RouteDesk can't read {path.name} ({exc.strerror or exc}). Nothing was imported.",
                            "Check that the file is readable and try again.") from None
    summary.formats = [k for k, _ in formats.most_common()]
    summary.messages_skipped = dict(notes.skipped)
    summary.seconds = time.monotonic() - started
    return summary

