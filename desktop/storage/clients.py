"""The local endpoint's clients and the spend each one caused.

A client is one tool on this computer (an editor, a script) with its own token. Only
the token's SHA-256 is stored: a token is 256 random bits, so a fast hash is enough and a
copy of the database gives nobody a working token. Removing a client revokes it at once
(the next request looks the hash up again) and keeps its row, so spend it caused stays
attributed to its name.
"""

from __future__ import annotations

import builtins
import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from desktop.core.types import ModelRef, Usage
from desktop.storage.columns import exact_sum, money_of, money_text, time_of, time_text
from desktop.storage.db import Store

__all__ = ["ClientRecord", "ClientSpend", "ClientStore", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ClientRecord:
    id: int
    name: str
    budget_usd: Decimal | None  # per local calendar month; None: no limit
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class ClientSpend:
    name: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal  # known costs only
    price_unknown: int
    estimated: int  # requests billed on an estimate (the client left mid-answer)


class ClientStore:
    """Client rows over a ``Store``'s connection (same database, same transactions)."""

    def __init__(self, store: Store) -> None:
        self._s = store

    # -- clients -------------------------------------------------------------------

    def add(self, name: str, token: str, budget_usd: Decimal | None = None) -> ClientRecord:
        """Raises ``ValueError`` when an active client already has ``name``."""
        try:
            cur = self._s.conn.execute(
                "INSERT INTO endpoint_clients (name, token_hash, budget_usd, created_at) VALUES (?, ?, ?, ?)",
                (name, token_hash(token), money_text(budget_usd, "budget_usd"), self._s._stamp()),
            )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"a client called {name!r} exists already") from exc
        rec = self._one("SELECT * FROM endpoint_clients WHERE id = ?", (int(cur.lastrowid),))  # type: ignore[arg-type]
        assert rec is not None
        return rec

    def get(self, name: str) -> ClientRecord | None:
        return self._one("SELECT * FROM endpoint_clients WHERE name = ? AND revoked_at IS NULL", (name,))

    def list(self) -> list[ClientRecord]:
        rows = self._s.conn.execute("SELECT * FROM endpoint_clients WHERE revoked_at IS NULL ORDER BY name")
        return [self._client(r) for r in rows]

    def revoke(self, name: str) -> bool:
        cur = self._s.conn.execute(
            "UPDATE endpoint_clients SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (self._s._stamp(), name),
        )
        return cur.rowcount > 0

    def set_budget(self, name: str, budget_usd: Decimal | None) -> bool:
        cur = self._s.conn.execute(
            "UPDATE endpoint_clients SET budget_usd = ? WHERE name = ? AND revoked_at IS NULL",
            (money_text(budget_usd, "budget_usd"), name),
        )
        return cur.rowcount > 0

    def authenticate(self, token: str) -> ClientRecord | None:
        """The active client holding ``token``, else None (nothing written: a request's
        first byte doesn't wait on a commit; ``touch`` stamps the use afterwards)."""
        return self._one("SELECT * FROM endpoint_clients WHERE token_hash = ? AND revoked_at IS NULL",
                         (token_hash(token),))

    def touch(self, client_id: int) -> None:
        """Stamp the client's last use now."""
        self._s.conn.execute("UPDATE endpoint_clients SET last_used_at = ? WHERE id = ?",
                             (self._s._stamp(), client_id))

    # -- spend ---------------------------------------------------------------------

    def add_ledger_entry(
        self,
        client_id: int,
        msg_id: int | None,
        ref: ModelRef,
        usage: Usage,
        cost_usd: Decimal | None,
        price_source: str,
        strong_cost_usd: Decimal | None = None,
        choice: str = "",
        *,
        estimated: bool = False,
        served_model: str | None = None,
        provider_cost_usd: Decimal | None = None,
    ) -> int:
        """One ledger row and its client, in one transaction."""
        with self._s._tx():
            ledger_id = self._s.add_ledger_entry(msg_id, ref, usage, cost_usd, price_source, strong_cost_usd, choice,
                                                 served_model=served_model, provider_cost_usd=provider_cost_usd)
            self._s.conn.execute(
                "INSERT INTO endpoint_spend (ledger_id, client_id, estimated) VALUES (?, ?, ?)",
                (ledger_id, client_id, int(estimated)),
            )
        return ledger_id

    def spent(self, client_id: int, since: datetime | None = None) -> Decimal:
        """Exact sum of the client's known costs (``since`` inclusive)."""
        sql = ("SELECT l.cost_usd FROM endpoint_spend s JOIN ledger l ON l.id = s.ledger_id"
               " WHERE s.client_id = ? AND l.cost_usd IS NOT NULL")
        params: list[object] = [client_id]
        if since is not None:
            sql += " AND l.created_at >= ?"
            params.append(time_text(since))
        return exact_sum(r[0] for r in self._s.conn.execute(sql, params))

    def spend_by_client(self, since: datetime | None = None) -> builtins.list[ClientSpend]:
        """Per client name (removed clients included), ordered by name."""
        sql = ("SELECT c.name, l.input_tokens, l.output_tokens, l.cost_usd, s.estimated"
               " FROM endpoint_spend s JOIN ledger l ON l.id = s.ledger_id"
               " JOIN endpoint_clients c ON c.id = s.client_id")
        params: list[object] = []
        if since is not None:
            sql += " WHERE l.created_at >= ?"
            params.append(time_text(since))
        acc: dict[str, list[int]] = {}  # name -> requests, input, output, unknown, estimated
        costs: dict[str, list[str]] = {}
        for name, i, o, cost, est in self._s.conn.execute(sql + " ORDER BY l.id", params):
            a = acc.setdefault(name, [0, 0, 0, 0, 0])
            a[0] += 1
            a[1] += int(i)
            a[2] += int(o)
            a[3] += cost is None
            a[4] += int(est)
            if cost is not None:
                costs.setdefault(name, []).append(cost)
        return [ClientSpend(name, a[0], a[1], a[2], exact_sum(costs.get(name, [])), a[3], a[4])
                for name, a in sorted(acc.items())]

    def client_of_ledger(self) -> dict[int, str]:
        """ledger id -> client name, for every row the endpoint caused (the chart's filter)."""
        rows = self._s.conn.execute(
            "SELECT s.ledger_id, c.name FROM endpoint_spend s JOIN endpoint_clients c ON c.id = s.client_id")
        return {int(r[0]): str(r[1]) for r in rows}

    # -- rows ----------------------------------------------------------------------

    def _one(self, sql: str, params: tuple[object, ...]) -> ClientRecord | None:
        row = self._s.conn.execute(sql, params).fetchone()
        return None if row is None else self._client(row)

    @staticmethod
    def _client(row: sqlite3.Row) -> ClientRecord:
        return ClientRecord(
            id=int(row["id"]),
            name=str(row["name"]),
            budget_usd=money_of(row["budget_usd"]),
            created_at=time_of(row["created_at"]),  # type: ignore[arg-type]
            last_used_at=time_of(row["last_used_at"]),
            revoked_at=time_of(row["revoked_at"]),
        )
