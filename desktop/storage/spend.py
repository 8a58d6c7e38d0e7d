"""The spend ledger: what each answer cost, and exact totals."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal

from desktop.core.types import ModelRef, Usage
from desktop.storage.columns import exact_sum, money_of, money_text, time_of, time_text
from desktop.storage.connection import StoreCore
from desktop.storage.records import LedgerEntry

__all__ = ["SpendStore"]


class SpendStore(StoreCore):
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
        *,
        served_model: str | None = None,
        provider_cost_usd: Decimal | None = None,
    ) -> int:
        """Record spend. ``cost_usd`` None means the price is unknown (counted as 0 in
        totals, shown as unknown). Decimals only: a float raises TypeError. ``served_model``:
        the model the provider says answered; ``provider_cost_usd``: the cost it reported."""
        cur = self._x(
            "INSERT INTO ledger (message_id, provider, model, input_tokens, output_tokens, cost_usd,"
            " price_source, strong_cost_usd, choice, created_at, served_model, provider_cost_usd)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg_id,
                ref.provider,
                ref.model,
                int(usage.input_tokens),
                int(usage.output_tokens),
                money_text(cost_usd, "cost_usd"),
                price_source or "",
                money_text(strong_cost_usd, "strong_cost_usd"),
                choice or "",
                self._stamp(),
                served_model or None,
                money_text(provider_cost_usd, "provider_cost_usd"),
            ),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def ledger(self, since: datetime | None = None) -> list[LedgerEntry]:
        """Ledger rows, oldest first (``since`` inclusive; naive datetimes are local time)."""
        if since is None:
            rows = self._x("SELECT * FROM ledger ORDER BY id")
        else:
            rows = self._x("SELECT * FROM ledger WHERE created_at >= ? ORDER BY id", (time_text(since),))
        return [self._ledger(r) for r in rows]

    def spend_total(self, since: datetime | None = None) -> Decimal:
        """Exact sum of known costs (Decimal arithmetic over the stored text)."""
        if since is None:
            rows = self._x("SELECT cost_usd FROM ledger WHERE cost_usd IS NOT NULL")
        else:
            rows = self._x(
                "SELECT cost_usd FROM ledger WHERE cost_usd IS NOT NULL AND created_at >= ?",
                (time_text(since),),
            )
        return exact_sum(r[0] for r in rows)

    @staticmethod
    def _ledger(row: sqlite3.Row) -> LedgerEntry:
        return LedgerEntry(
            id=row["id"],
            message_id=row["message_id"],
            ref=ModelRef(row["provider"], row["model"]),
            usage=Usage(row["input_tokens"], row["output_tokens"]),
            cost_usd=money_of(row["cost_usd"]),
            price_source=row["price_source"],
            strong_cost_usd=money_of(row["strong_cost_usd"]),
            choice=row["choice"],
            created_at=time_of(row["created_at"]),  # type: ignore[arg-type]
            served_model=row["served_model"],
            provider_cost_usd=money_of(row["provider_cost_usd"]),
        )
