"""Conversations, their messages (a streaming answer's life: start, checkpoints,
finish, recovery after a crash) and the attempts behind each answer."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.storage.columns import (
    clean,
    error_of,
    error_text,
    json_text,
    money_of,
    money_text,
    ref_of,
    time_of,
    time_text,
    usage_of,
    when_text,
)
from desktop.storage.connection import StoreCore
from desktop.storage.records import ANSWER_STATUSES, AttemptRecord, ConversationRecord, MessageRecord

__all__ = ["ConversationStore"]

_FINAL_STATUSES = frozenset(ANSWER_STATUSES) - {"streaming"}

_INTERRUPTED_ERROR = ErrorInfo(
    kind="interrupted",
    message="RouteDesk closed before this answer finished. The part that arrived is kept.",
    fix="Press Retry to ask again.",
)


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


class ConversationStore(StoreCore):
    # -- conversations -------------------------------------------------------------

    def create_conversation(self, title: str = "New conversation") -> int:
        now = self._stamp()
        cur = self._x(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
            (clean(title), now, now),
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
            self._x("UPDATE conversations SET title = ? WHERE id = ?", (clean(title), conv_id)), conv_id
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
            cutoff = time_text(self._now() - older_than)
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
            created_at=time_of(row["created_at"]),  # type: ignore[arg-type]
            updated_at=time_of(row["updated_at"]),  # type: ignore[arg-type]
            deleted_at=time_of(row["deleted_at"]),
            message_count=row["n"],
        )

    # -- messages ------------------------------------------------------------------

    def add_user_message(self, conv_id: int, text: str) -> int:
        """Store the user's message (committed before anything is sent). KeyError when
        the conversation doesn't exist."""
        now = self._stamp()
        with self._tx():
            self._touch(conv_id, now)
            cur = self._x(
                "INSERT INTO messages (conversation_id, role, status, text, created_at, updated_at)"
                " VALUES (?, 'user', 'complete', ?, ?, ?)",
                (conv_id, clean(text), now, now),
            )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_system_message(self, conv_id: int, text: str) -> int:
        now = self._stamp()
        cur = self._x(
            "INSERT INTO messages (conversation_id, role, status, text, created_at, updated_at)"
            " VALUES (?, 'system', 'complete', ?, ?, ?)",
            (conv_id, clean(text), now, now),
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
        has one) is also appended to the router score history (``recent_scores``).
        KeyError when the conversation doesn't exist."""
        now = self._stamp()
        with self._tx():
            self._touch(conv_id, now)
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
                    (msg_id, float(route.score), None if features is None else json_text(features), now),
                )
        return msg_id

    def save_partial(self, msg_id: int, text: str) -> None:
        """Checkpoint the partial answer of a streaming row: one UPDATE, no FTS work."""
        self._x(
            "UPDATE messages SET text = ? WHERE id = ? AND status = 'streaming'", (clean(text), msg_id)
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
        served_model: str | None = None,
    ) -> None:
        """Close an answer. ``status`` is complete, truncated, interrupted, stopped or error.
        ``model``/``route`` left as None keep what ``start_answer`` stored; ``served_model``
        is the model the provider says answered, when it names another."""
        if status not in _FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(_FINAL_STATUSES)}, got {status!r}")
        now = self._stamp()
        sets = [
            "status = ?", "text = ?", "input_tokens = ?", "output_tokens = ?", "cost_usd = ?",
            "error = ?", "ttft_ms = ?", "fallback_used = ?", "stream_owner = NULL", "updated_at = ?",
            "served_model = ?",
        ]
        params: list[Any] = [
            status,
            clean(text),
            usage.input_tokens if usage else None,
            usage.output_tokens if usage else None,
            money_text(cost_usd, "cost_usd"),
            error_text(error),
            None if ttft_ms is None else float(ttft_ms),
            int(bool(fallback_used)),
            now,
            served_model or None,
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
        """Record one model's attempt at an answer (its retries included): whether it
        answered, why not, the usage its stream reported (None: it reported none) and
        when it started and ended (datetimes or epoch seconds)."""
        cur = self._x(
            "INSERT INTO attempts (message_id, provider, model, ok, error, input_tokens, output_tokens,"
            " started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg_id,
                ref.provider,
                ref.model,
                int(bool(ok)),
                error_text(error),
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                when_text(started_at),
                when_text(ended_at),
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
                    (now, error_text(_INTERRUPTED_ERROR), msg_id),
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
            json_text(list(route.reasons)),
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
            model=ref_of(row["provider"], row["model"]),
            route=self._route(row),
            usage=usage_of(row["input_tokens"], row["output_tokens"]),
            cost_usd=money_of(row["cost_usd"]),
            error=error_of(row["error"]),
            ttft_ms=None if row["ttft_ms"] is None else float(row["ttft_ms"]),
            fallback_used=bool(row["fallback_used"]),
            attempts=attempts,
            served_model=row["served_model"],
            created_at=time_of(row["created_at"]),  # type: ignore[arg-type]
            updated_at=time_of(row["updated_at"]),  # type: ignore[arg-type]
        )

    @staticmethod
    def _attempt(row: sqlite3.Row) -> AttemptRecord:
        return AttemptRecord(
            id=row["id"],
            message_id=row["message_id"],
            ref=ModelRef(row["provider"], row["model"]),
            ok=bool(row["ok"]),
            error=error_of(row["error"]),
            usage=usage_of(row["input_tokens"], row["output_tokens"]),
            started_at=time_of(row["started_at"]),
            ended_at=time_of(row["ended_at"]),
        )
