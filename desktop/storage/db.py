"""The SQLite store: conversations, messages, attempts, spend ledger, settings,
price overrides, router scores and feedback.

Durability model: WAL journal, ``synchronous=NORMAL``, every write commits at once
(autocommit; multi-statement writes use ``BEGIN IMMEDIATE``), so a process killed at
any moment leaves a database that opens without repair and holds every committed row.
Several processes (the window and the CLI) may open the same file; ``busy_timeout``
makes writers wait for each other. One ``Store`` is used from one thread at a time.

Money is ``Decimal`` in USD, stored as TEXT and summed as Decimal, never as float.
Timestamps are stored as fixed-width UTC text (sortable) and returned as aware UTC
datetimes. Every error text is passed through :func:`redact` before it is written.
"""

from __future__ import annotations

import decimal
import html
import json
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from desktop.core.errors import ErrorInfo
from desktop.core.types import ChatMessage, ModelRef, RouteDecision, Usage
from desktop.storage.migrations import applied_migrations, migrate
from desktop.storage.records import (
    ANSWER_STATUSES,
    AttemptRecord,
    ConversationRecord,
    FeedbackRecord,
    LedgerEntry,
    MessageRecord,
    PriceOverride,
    ProviderRecord,
    RouterScore,
    SearchHit,
)
from desktop.core.redact import redact

__all__ = ["Store", "fts_query", "BUSY_TIMEOUT_MS"]

BUSY_TIMEOUT_MS = 10_000
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_FINAL_STATUSES = frozenset(ANSWER_STATUSES) - {"streaming"}

_INTERRUPTED_ERROR = ErrorInfo(
    kind="interrupted",
    message="RouteDesk closed before this answer finished. The part that arrived is kept.",
    fix="Press Retry to ask again.",
)


# --- helpers --------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime) -> str:
    if value.tzinfo is None:  # naive datetimes are taken as local time
        value = value.astimezone()
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def _dt(text: str | None) -> datetime | None:
    if text is None:
        return None
    # fromisoformat reads our own fixed format ~10x faster than strptime, which
    # dominated opening a long conversation.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _money(value: Decimal | int | str | None, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, not float ({value!r}); money is never a float")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{what} must be a finite amount, got {value!r}")
    return str(amount)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _when(value: datetime | float | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _ts(value)
    return _ts(datetime.fromtimestamp(float(value), UTC))


def _error_json(error: ErrorInfo | None) -> str | None:
    if error is None:
        return None
    data = error.to_dict()
    for key in ("message", "fix", "code"):
        if isinstance(data.get(key), str):
            data[key] = redact(data[key])
    return json.dumps(data, ensure_ascii=False)


def _error(text: str | None) -> ErrorInfo | None:
    if not text:
        return None
    data = json.loads(text)
    return ErrorInfo(
        kind=data.get("kind", ""),
        message=data.get("message", ""),
        fix=data.get("fix", ""),
        provider=data.get("provider"),
        model=data.get("model"),
        status=data.get("status"),
        code=data.get("code"),
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


_ERROR_TEXT_KEYS = frozenset({"message", "fix", "detail", "code", "body", "error"})


def _redact_error_text(value: Any, key: str | None = None) -> Any:
    """Redact string values stored under error-ish keys (message, fix, detail...) at any
    depth of a JSON setting, e.g. the engine's cooldowns, which keep ErrorInfo dicts."""
    if isinstance(value, dict):
        return {k: _redact_error_text(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_error_text(v, key) for v in value]
    if isinstance(value, str) and key in _ERROR_TEXT_KEYS:
        return redact(value)
    return value


def _ref(provider: str | None, model: str | None) -> ModelRef | None:
    if provider is None or model is None:
        return None
    return ModelRef(provider, model)


def _usage(input_tokens: int | None, output_tokens: int | None) -> Usage | None:
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens or 0, output_tokens or 0)


def _clean(text: str) -> str:
    """Text SQLite can store: lone surrogates (a broken paste) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # joins split surrogate pairs; a lone one becomes U+FFFD
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_FTS_TOKEN = re.compile(r"\w", re.UNICODE)


def fts_query(text: str) -> str:
    """Turn free user input into a safe FTS5 query: every whitespace-separated word
    becomes a quoted phrase (so ``c++ "foo`` or ``AND(`` can't be a syntax error), the
    words are ANDed, and the last one is a prefix match for search-as-you-type.
    Returns "" when the input holds nothing searchable."""
    text = _clean(text).replace("\x00", " ")  # FTS5 reads the query as a C string
    words = [w for w in text.split() if _FTS_TOKEN.search(w)]
    if not words:
        return ""
    parts = ['"' + w.replace('"', '""') + '"' for w in words]
    parts[-1] += "*"
    return " ".join(parts)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return False
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# --- the store ------------------------------------------------------------------------


class Store:
    """One SQLite database. Open with ``Store(path)`` (``":memory:"`` works for tests)
    or ``Store.default()`` for the user's data folder. Close with ``close()`` or use it
    as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, now: Callable[[], datetime] | None = None) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._now = now or _utcnow
        # Identifies this Store's own streaming rows, so that another process (or a later
        # Store in this one) can tell a live stream from one left behind by a crash.
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal" and str(self.path) != ":memory:":
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL (got {mode})")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def default(cls) -> Store:
        from desktop.core.paths import database_path

        return cls(database_path())

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("this Store is closed")
        return self._conn

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        return applied_migrations(self.conn)

    def _x(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _tx(self) -> _Transaction:
        return _Transaction(self.conn)

    def _stamp(self) -> str:
        return _ts(self._now())

    # -- providers -----------------------------------------------------------------

    def add_provider(
        self,
        name: str,
        kind: str,
        base_url: str | None,
        *,
        enabled: bool = True,
        options: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> ProviderRecord:
        """Add a provider; raises ValueError if the name is taken (unless ``replace``)."""
        now = self._stamp()
        params = (name, kind, base_url, int(enabled), _dumps(options or {}), now, now)
        if replace:
            self._x(
                "INSERT INTO providers (name, kind, base_url, enabled, options, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
                " base_url = excluded.base_url, enabled = excluded.enabled, options = excluded.options,"
                " updated_at = excluded.updated_at",
                params,
            )
        else:
            try:
                self._x(
                    "INSERT INTO providers (name, kind, base_url, enabled, options, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    params,
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"A provider named {name!r} already exists.") from None
        record = self.get_provider(name)
        assert record is not None
        return record

    def update_provider(
        self,
        name: str,
        *,
        kind: str | None = None,
        base_url: str | None = None,
        enabled: bool | None = None,
        options: dict[str, Any] | None = None,
    ) -> ProviderRecord:
        """Change the given fields (None leaves a field as it is). Raises KeyError if unknown."""
        sets, params = [], []
        for column, value in (("kind", kind), ("base_url", base_url)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if enabled is not None:
            sets.append("enabled = ?")
            params.append(int(enabled))
        if options is not None:
            sets.append("options = ?")
            params.append(_dumps(options))
        sets.append("updated_at = ?")
        params.append(self._stamp())
        cur = self._x(f"UPDATE providers SET {', '.join(sets)} WHERE name = ?", [*params, name])
        if cur.rowcount == 0:
            raise KeyError(f"No provider named {name!r}.")
        record = self.get_provider(name)
        assert record is not None
        return record

    def get_provider(self, name: str) -> ProviderRecord | None:
        row = self._x("SELECT * FROM providers WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._provider(row)

    def list_providers(self) -> list[ProviderRecord]:
        return [self._provider(r) for r in self._x("SELECT * FROM providers ORDER BY name")]

    def remove_provider(self, name: str) -> bool:
        """Forget a provider (the caller deletes its key). Returns False if unknown."""
        return self._x("DELETE FROM providers WHERE name = ?", (name,)).rowcount > 0

    @staticmethod
    def _provider(row: sqlite3.Row) -> ProviderRecord:
        return ProviderRecord(
            name=row["name"],
            kind=row["kind"],
            base_url=row["base_url"],
            enabled=bool(row["enabled"]),
            options=json.loads(row["options"] or "{}"),
            created_at=_dt(row["created_at"]),
            updated_at=_dt(row["updated_at"]),
        )

    # -- settings ------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._x("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Store any JSON value (Decimal is written as a string). Strings under error-ish
        keys (message, fix, detail, code, body, error) are redacted at any depth."""
        self._x(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, _dumps(_redact_error_text(value)), self._stamp()),
        )

    def delete_setting(self, key: str) -> bool:
        return self._x("DELETE FROM settings WHERE key = ?", (key,)).rowcount > 0

    def settings(self) -> dict[str, Any]:
        return {r[0]: json.loads(r[1]) for r in self._x("SELECT key, value FROM settings ORDER BY key")}

    # -- price overrides -----------------------------------------------------------

    def set_price_override(
        self, ref: ModelRef | str, input_per_mtok: Decimal, output_per_mtok: Decimal
    ) -> PriceOverride:
        key = str(ModelRef.parse(ref) if isinstance(ref, str) else ref)
        inp = _money(input_per_mtok, "input_per_mtok")
        out = _money(output_per_mtok, "output_per_mtok")
        if Decimal(inp) < 0 or Decimal(out) < 0:  # type: ignore[arg-type]
            raise ValueError("Prices can't be negative.")
        self._x(
            "INSERT INTO price_overrides (ref, input_per_mtok, output_per_mtok, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (ref) DO UPDATE SET input_per_mtok = excluded.input_per_mtok,"
            " output_per_mtok = excluded.output_per_mtok, updated_at = excluded.updated_at",
            (key, inp, out, self._stamp()),
        )
        result = self.get_price_override(key)
        assert result is not None
        return result

    def get_price_override(self, ref: ModelRef | str) -> PriceOverride | None:
        row = self._x("SELECT * FROM price_overrides WHERE ref = ?", (str(ref),)).fetchone()
        return None if row is None else self._price(row)

    def list_price_overrides(self) -> list[PriceOverride]:
        return [self._price(r) for r in self._x("SELECT * FROM price_overrides ORDER BY ref")]

    def delete_price_override(self, ref: ModelRef | str) -> bool:
        return self._x("DELETE FROM price_overrides WHERE ref = ?", (str(ref),)).rowcount > 0

    @staticmethod
    def _price(row: sqlite3.Row) -> PriceOverride:
        return PriceOverride(
            ref=ModelRef.parse(row["ref"]),
            input_per_mtok=Decimal(row["input_per_mtok"]),
            output_per_mtok=Decimal(row["output_per_mtok"]),
            updated_at=_dt(row["updated_at"]),
        )

    # -- conversations -------------------------------------------------------------

    def create_conversation(self, title: str = "New conversation") -> int:
        now = self._stamp()
        cur = self._x(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
            (_clean(title), now, now),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def get_conversation(self, conv_id: int) -> ConversationRecord | None:
        row = self._x(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            " FROM conversations c WHERE c.id = ?",
            (conv_id,),
        ).fetchone()
        return None if row is None else self._conversation(row)

    def list_conversations(self, include_deleted: bool = False) -> list[ConversationRecord]:
        """Newest activity first."""
        where = "" if include_deleted else "WHERE c.deleted_at IS NULL"
        rows = self._x(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            f" FROM conversations c {where} ORDER BY c.updated_at DESC, c.id DESC"
        )
        return [self._conversation(r) for r in rows]

    def rename_conversation(self, conv_id: int, title: str) -> None:
        self._require_rowcount(
            self._x("UPDATE conversations SET title = ? WHERE id = ?", (_clean(title), conv_id)), conv_id
        )

    def delete_conversation(self, conv_id: int) -> None:
        """Soft delete: hidden from lists and search until restored or purged."""
        self._require_rowcount(
            self._x(
                "UPDATE conversations SET deleted_at = coalesce(deleted_at, ?) WHERE id = ?",
                (self._stamp(), conv_id),
            ),
            conv_id,
        )

    def restore_conversation(self, conv_id: int) -> None:
        self._require_rowcount(
            self._x("UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conv_id,)), conv_id
        )

    def purge_deleted(self, older_than: timedelta | None = None) -> int:
        """Really delete soft-deleted conversations (all, or those deleted longer ago
        than ``older_than``). Their ledger rows stay (message_id becomes NULL)."""
        if older_than is None:
            cur = self._x("DELETE FROM conversations WHERE deleted_at IS NOT NULL")
        else:
            cutoff = _ts(self._now() - older_than)
            cur = self._x(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (cutoff,)
            )
        return cur.rowcount

    @staticmethod
    def _require_rowcount(cur: sqlite3.Cursor, conv_id: int) -> None:
        if cur.rowcount == 0:
            raise KeyError(f"No conversation {conv_id}.")

    @staticmethod
    def _conversation(row: sqlite3.Row) -> ConversationRecord:
        return ConversationRecord(
            id=row["id"],
            title=row["title"],
            created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
            deleted_at=_dt(row["deleted_at"]),
            message_count=row["n"],
        )

    # -- messages ------------------------------------------------------------------

    def add_user_message(self, conv_id: int, text: str) -> int:
        """Store the user's message (committed before anything is sent)."""
        now = self._stamp()
        with self._tx():
            cur = self._x(
                "INSERT INTO messages (conversation_id, role, status, text, created_at, updated_at)"
                " VALUES (?, 'user', 'complete', ?, ?, ?)",
                (conv_id, _clean(text), now, now),
            )
            self._touch(conv_id, now)
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_system_message(self, conv_id: int, text: str) -> int:
        now = self._stamp()
        cur = self._x(
            "INSERT INTO messages (conversation_id, role, status, text, created_at, updated_at)"
            " VALUES (?, 'system', 'complete', ?, ?, ?)",
            (conv_id, _clean(text), now, now),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def start_answer(
        self,
        conv_id: int,
        *,
        route: RouteDecision | None,
        model: ModelRef | None = None,
        features: dict[str, Any] | None = None,
    ) -> int:
        """Create the assistant row in status ``streaming``. The route's score (when it
        has one) is also appended to the router score history (``recent_scores``)."""
        now = self._stamp()
        with self._tx():
            cur = self._x(
                "INSERT INTO messages (conversation_id, role, status, text, provider, model,"
                " route_choice, route_score, route_threshold, route_policy, route_reason, route_reasons,"
                " stream_owner, created_at, updated_at)"
                " VALUES (?, 'assistant', 'streaming', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conv_id,
                    model.provider if model else None,
                    model.model if model else None,
                    *self._route_params(route),
                    self._owner,
                    now,
                    now,
                ),
            )
            msg_id = int(cur.lastrowid)  # type: ignore[arg-type]
            if route is not None and route.score is not None:
                self._x(
                    "INSERT INTO router_scores (message_id, score, features, created_at) VALUES (?, ?, ?, ?)",
                    (msg_id, float(route.score), None if features is None else _dumps(features), now),
                )
            self._touch(conv_id, now)
        return msg_id

    def save_partial(self, msg_id: int, text: str) -> None:
        """Checkpoint the partial answer of a streaming row: one UPDATE, no FTS work."""
        self._x(
            "UPDATE messages SET text = ? WHERE id = ? AND status = 'streaming'", (_clean(text), msg_id)
        )

    def finish_answer(
        self,
        msg_id: int,
        *,
        text: str,
        status: str,
        model: ModelRef | None = None,
        usage: Usage | None = None,
        cost_usd: Decimal | None = None,
        error: ErrorInfo | None = None,
        ttft_ms: float | None = None,
        fallback_used: bool = False,
        route: RouteDecision | None = None,
    ) -> None:
        """Close an answer. ``status`` is complete, interrupted, stopped or error.
        ``model``/``route`` left as None keep what ``start_answer`` stored."""
        if status not in _FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(_FINAL_STATUSES)}, got {status!r}")
        now = self._stamp()
        sets = [
            "status = ?", "text = ?", "input_tokens = ?", "output_tokens = ?", "cost_usd = ?",
            "error = ?", "ttft_ms = ?", "fallback_used = ?", "stream_owner = NULL", "updated_at = ?",
        ]
        params: list[Any] = [
            status,
            _clean(text),
            usage.input_tokens if usage else None,
            usage.output_tokens if usage else None,
            _money(cost_usd, "cost_usd"),
            _error_json(error),
            None if ttft_ms is None else float(ttft_ms),
            int(bool(fallback_used)),
            now,
        ]
        if model is not None:
            sets += ["provider = ?", "model = ?"]
            params += [model.provider, model.model]
        if route is not None:
            sets += [
                "route_choice = ?", "route_score = ?", "route_threshold = ?",
                "route_policy = ?", "route_reason = ?", "route_reasons = ?",
            ]
            params += self._route_params(route)
        with self._tx():
            cur = self._x(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", [*params, msg_id])
            if cur.rowcount == 0:
                raise KeyError(f"No message {msg_id}.")
            self._x(
                "UPDATE conversations SET updated_at = ? WHERE id ="
                " (SELECT conversation_id FROM messages WHERE id = ?)",
                (now, msg_id),
            )

    def add_attempt(
        self,
        msg_id: int,
        ref: ModelRef,
        *,
        ok: bool,
        error: ErrorInfo | None = None,
        usage: Usage | None = None,
        started_at: datetime | float | None = None,
        ended_at: datetime | float | None = None,
    ) -> int:
        """Record one try of one model for an answer (times: datetimes or epoch seconds)."""
        cur = self._x(
            "INSERT INTO attempts (message_id, provider, model, ok, error, input_tokens, output_tokens,"
            " started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg_id,
                ref.provider,
                ref.model,
                int(bool(ok)),
                _error_json(error),
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                _when(started_at),
                _when(ended_at),
            ),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def attempts(self, msg_id: int) -> list[AttemptRecord]:
        rows = self._x("SELECT * FROM attempts WHERE message_id = ? ORDER BY id", (msg_id,))
        return [self._attempt(r) for r in rows]

    def get_message(self, msg_id: int) -> MessageRecord | None:
        row = self._x("SELECT * FROM messages WHERE id = ?", (msg_id,)).fetchone()
        if row is None:
            return None
        return self._message(row, tuple(self.attempts(msg_id)))

    def messages(self, conv_id: int) -> list[MessageRecord]:
        """Every message of a conversation, oldest first, with its attempts."""
        rows = self._x(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conv_id,)
        ).fetchall()
        by_message: dict[int, list[AttemptRecord]] = {}
        for r in self._x(
            "SELECT a.* FROM attempts a JOIN messages m ON m.id = a.message_id"
            " WHERE m.conversation_id = ? ORDER BY a.id",
            (conv_id,),
        ):
            by_message.setdefault(r["message_id"], []).append(self._attempt(r))
        return [self._message(r, tuple(by_message.get(r["id"], ()))) for r in rows]

    def messages_page(
        self, conv_id: int, *, before_id: int | None = None, limit: int = 200
    ) -> tuple[list[MessageRecord], bool]:
        """The newest ``limit`` messages older than ``before_id`` (oldest first), with
        their attempts, and whether older ones exist. The window opens a long
        conversation by its latest page: parsing all 10,000 rows would miss its budget."""
        sql = "SELECT * FROM messages WHERE conversation_id = ?"
        params: list[Any] = [conv_id]
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        rows = self._x(sql + " ORDER BY id DESC LIMIT ?", (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit][::-1]
        by_message: dict[int, list[AttemptRecord]] = {}
        if rows:
            ids = [r["id"] for r in rows]
            marks = ",".join("?" * len(ids))
            for a in self._x(f"SELECT * FROM attempts WHERE message_id IN ({marks}) ORDER BY id", ids):
                by_message.setdefault(a["message_id"], []).append(self._attempt(a))
        return [self._message(r, tuple(by_message.get(r["id"], ()))) for r in rows], more

    def conversation_messages_for_context(self, conv_id: int) -> list[ChatMessage]:
        """What to send to a model: system and user messages, and assistant answers that
        have text (complete, or stopped/interrupted partials). Rows still streaming and
        failed answers are left out."""
        rows = self._x(
            "SELECT role, text FROM messages WHERE conversation_id = ? AND ("
            " role IN ('system', 'user')"
            " OR (role = 'assistant' AND status IN ('complete', 'stopped', 'interrupted') AND text != '')"
            ") ORDER BY id",
            (conv_id,),
        )
        return [ChatMessage(r["role"], r["text"]) for r in rows]

    def recover_interrupted(self) -> int:
        """Mark answers left ``streaming`` by a process that is gone as ``interrupted``,
        keeping their partial text. Streams owned by a live process (the window while
        the CLI starts, say) or by this Store are left alone. Returns how many changed."""
        rows = self._x("SELECT id, stream_owner FROM messages WHERE status = 'streaming'").fetchall()
        dead = [r["id"] for r in rows if not self._owner_alive(r["stream_owner"])]
        if not dead:
            return 0
        now = self._stamp()
        with self._tx():
            for msg_id in dead:
                self._x(
                    "UPDATE messages SET status = 'interrupted', stream_owner = NULL, updated_at = ?,"
                    " error = coalesce(error, ?) WHERE id = ? AND status = 'streaming'",
                    (now, _error_json(_INTERRUPTED_ERROR), msg_id),
                )
        return len(dead)

    def _owner_alive(self, owner: str | None) -> bool:
        if not owner:
            return False
        if owner == self._owner:
            return True
        pid_text, _, _token = owner.partition(":")
        try:
            pid = int(pid_text)
        except ValueError:
            return False
        if pid == os.getpid():  # another (earlier) Store in this process: treat as left over
            return False
        return _pid_alive(pid)

    def _touch(self, conv_id: int, now: str) -> None:
        cur = self._x("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))
        if cur.rowcount == 0:
            raise KeyError(f"No conversation {conv_id}.")

    @staticmethod
    def _route_params(route: RouteDecision | None) -> list[Any]:
        if route is None:
            return [None] * 6
        return [
            route.choice,
            None if route.score is None else float(route.score),
            None if route.threshold is None else float(route.threshold),
            route.policy,
            route.reason,
            _dumps(list(route.reasons)),
        ]

    @staticmethod
    def _route(row: sqlite3.Row) -> RouteDecision | None:
        if row["route_choice"] is None:
            return None
        return RouteDecision(
            choice=row["route_choice"],
            score=row["route_score"],
            threshold=row["route_threshold"],
            reason=row["route_reason"] or "",
            policy=row["route_policy"] or "",
            reasons=tuple(json.loads(row["route_reasons"] or "[]")),
        )

    def _message(self, row: sqlite3.Row, attempts: tuple[AttemptRecord, ...]) -> MessageRecord:
        return MessageRecord(
            id=row["id"],
            conversation_id=row["conversation_id"],
            role=row["role"],
            status=row["status"],
            text=row["text"],
            model=_ref(row["provider"], row["model"]),
            route=self._route(row),
            usage=_usage(row["input_tokens"], row["output_tokens"]),
            cost_usd=_dec(row["cost_usd"]),
            error=_error(row["error"]),
            ttft_ms=None if row["ttft_ms"] is None else float(row["ttft_ms"]),
            fallback_used=bool(row["fallback_used"]),
            attempts=attempts,
            created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
        )

    @staticmethod
    def _attempt(row: sqlite3.Row) -> AttemptRecord:
        return AttemptRecord(
            id=row["id"],
            message_id=row["message_id"],
            ref=ModelRef(row["provider"], row["model"]),
            ok=bool(row["ok"]),
            error=_error(row["error"]),
            usage=_usage(row["input_tokens"], row["output_tokens"]),
            started_at=_dt(row["started_at"]),
            ended_at=_dt(row["ended_at"]),
        )

    # -- search --------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Full-text search over message text in conversations that aren't deleted.
        Any user input is accepted (it is quoted for FTS5); best matches first."""
        match = fts_query(query)
        if not match:
            return []
        rows = self._x(
            "SELECT m.id, m.conversation_id, c.title, m.role, m.created_at,"
            " snippet(messages_fts, 0, char(2), char(3), '…', 12) AS snip,"
            " bm25(messages_fts) AS rank"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE messages_fts MATCH ? AND c.deleted_at IS NULL"
            " ORDER BY rank, m.id DESC LIMIT ?",
            (match, int(limit)),
        )
        hits = []
        for r in rows:
            raw = r["snip"] or ""
            hits.append(
                SearchHit(
                    message_id=r["id"],
                    conversation_id=r["conversation_id"],
                    conversation_title=r["title"],
                    role=r["role"],
                    snippet=raw.replace("\x02", "«").replace("\x03", "»"),
                    snippet_html=html.escape(raw).replace("\x02", "<b>").replace("\x03", "</b>"),
                    rank=float(r["rank"]),
                    created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
                )
            )
        return hits

    # -- ledger --------------------------------------------------------------------

    def add_ledger_entry(
        self,
        msg_id: int | None,
        ref: ModelRef,
        usage: Usage,
        cost_usd: Decimal | None,
        price_source: str,
        strong_cost_usd: Decimal | None = None,
        choice: str = "",
    ) -> int:
        """Record spend. ``cost_usd`` None means the price is unknown (counted as 0 in
        totals, shown as unknown). Decimals only: a float raises TypeError."""
        cur = self._x(
            "INSERT INTO ledger (message_id, provider, model, input_tokens, output_tokens, cost_usd,"
            " price_source, strong_cost_usd, choice, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg_id,
                ref.provider,
                ref.model,
                int(usage.input_tokens),
                int(usage.output_tokens),
                _money(cost_usd, "cost_usd"),
                price_source or "",
                _money(strong_cost_usd, "strong_cost_usd"),
                choice or "",
                self._stamp(),
            ),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def ledger(self, since: datetime | None = None) -> list[LedgerEntry]:
        """Ledger rows, oldest first (``since`` inclusive; naive datetimes are local time)."""
        if since is None:
            rows = self._x("SELECT * FROM ledger ORDER BY id")
        else:
            rows = self._x("SELECT * FROM ledger WHERE created_at >= ? ORDER BY id", (_ts(since),))
        return [self._ledger(r) for r in rows]

    def spend_total(self, since: datetime | None = None) -> Decimal:
        """Exact sum of known costs (Decimal arithmetic over the stored text)."""
        if since is None:
            rows = self._x("SELECT cost_usd FROM ledger WHERE cost_usd IS NOT NULL")
        else:
            rows = self._x(
                "SELECT cost_usd FROM ledger WHERE cost_usd IS NOT NULL AND created_at >= ?",
                (_ts(since),),
            )
        return _exact_sum(r[0] for r in rows)

    @staticmethod
    def _ledger(row: sqlite3.Row) -> LedgerEntry:
        return LedgerEntry(
            id=row["id"],
            message_id=row["message_id"],
            ref=ModelRef(row["provider"], row["model"]),
            usage=Usage(row["input_tokens"], row["output_tokens"]),
            cost_usd=_dec(row["cost_usd"]),
            price_source=row["price_source"],
            strong_cost_usd=_dec(row["strong_cost_usd"]),
            choice=row["choice"],
            created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        )

    # -- router score history --------------------------------------------------------

    def add_router_score(
        self, score: float, *, message_id: int | None = None, features: dict[str, Any] | None = None
    ) -> int:
        """Append a prompt score (``start_answer`` already does this for routed answers)."""
        cur = self._x(
            "INSERT INTO router_scores (message_id, score, features, created_at) VALUES (?, ?, ?, ?)",
            (message_id, float(score), None if features is None else _dumps(features), self._stamp()),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def recent_scores(self, limit: int = 500) -> list[float]:
        """The latest prompt scores, newest first (for the share-target policy)."""
        rows = self._x("SELECT score FROM router_scores ORDER BY id DESC LIMIT ?", (int(limit),))
        return [float(r[0]) for r in rows]

    def router_scores(self, limit: int = 500) -> list[RouterScore]:
        rows = self._x("SELECT * FROM router_scores ORDER BY id DESC LIMIT ?", (int(limit),))
        return [
            RouterScore(
                id=r["id"],
                message_id=r["message_id"],
                score=float(r["score"]),
                features=None if r["features"] is None else json.loads(r["features"]),
                created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
            )
            for r in rows
        ]

    def clear_router_scores(self) -> int:
        return self._x("DELETE FROM router_scores").rowcount

    # -- feedback --------------------------------------------------------------------

    def add_feedback(self, msg_id: int | None, value: int, kind: str) -> int:
        cur = self._x(
            "INSERT INTO feedback (message_id, value, kind, created_at) VALUES (?, ?, ?, ?)",
            (msg_id, int(value), kind, self._stamp()),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def list_feedback(self) -> list[FeedbackRecord]:
        """Oldest first, each with the router score/features stored for its answer."""
        rows = self._x(
            "SELECT f.*, m.route_score AS score,"
            " (SELECT s.features FROM router_scores s WHERE s.message_id = f.message_id"
            "  ORDER BY s.id DESC LIMIT 1) AS features"
            " FROM feedback f LEFT JOIN messages m ON m.id = f.message_id ORDER BY f.id"
        )
        return [
            FeedbackRecord(
                id=r["id"],
                message_id=r["message_id"],
                value=r["value"],
                kind=r["kind"],
                created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
                score=r["score"],
                features=None if r["features"] is None else json.loads(r["features"]),
            )
            for r in rows
        ]

    def clear_feedback(self) -> int:
        return self._x("DELETE FROM feedback").rowcount


def _exact_sum(values: Iterable[str]) -> Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[decimal.Inexact] = True  # never round silently
        total = Decimal(0)
        for text in values:
            total += Decimal(text)
        return total


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error). Not re-entrant."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
