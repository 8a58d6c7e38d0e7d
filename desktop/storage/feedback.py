"""The router's memory: prompt scores (for the share-target policy) and the user's feedback."""

from __future__ import annotations

import json
from typing import Any

from desktop.storage.columns import json_text, time_of
from desktop.storage.connection import StoreCore
from desktop.storage.records import FeedbackRecord, RouterScore

__all__ = ["FeedbackStore"]


class FeedbackStore(StoreCore):
    # -- router score history --------------------------------------------------------

    def add_router_score(
        self, score: float, *, message_id: int | None = None, features: dict[str, Any] | None = None
    ) -> int:
        """Append a prompt score (``start_answer`` already does this for routed answers)."""
        cur = self._x(
            "INSERT INTO router_scores (message_id, score, features, created_at) VALUES (?, ?, ?, ?)",
            (message_id, float(score), None if features is None else json_text(features), self._stamp()),
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
                created_at=time_of(r["created_at"]),  # type: ignore[arg-type]
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
                created_at=time_of(r["created_at"]),  # type: ignore[arg-type]
                score=r["score"],
                features=None if r["features"] is None else json.loads(r["features"]),
            )
            for r in rows
        ]

    def clear_feedback(self) -> int:
        return self._x("DELETE FROM feedback").rowcount
