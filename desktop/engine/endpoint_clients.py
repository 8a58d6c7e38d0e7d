"""The local endpoint's clients: one token per tool, shown once, stored as a hash,
revocable at once, with an optional monthly budget (``engine.clients``; the window's
Settings and ``routedesk clients`` call it)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.engine.spend import month_start
from desktop.storage import ClientRecord, ClientStore
from desktop.storage.clients import token_hash

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["ClientInfo", "ClientService", "TOKEN_PREFIX", "budget_error"]

#: Every client token starts with this, so a leaked one is recognisable (and scannable).
TOKEN_PREFIX = "rdk-"
_NAME = re.compile(r"^[\w.@+\- ]{1,64}$")


@dataclass(frozen=True)
class ClientInfo:
    name: str
    created_at: datetime
    last_used_at: datetime | None
    month_usd: Decimal  # this local calendar month's known spend
    budget_usd: Decimal | None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "month_usd": self.month_usd,
            "month_usd_exact": str(self.month_usd),
            "budget_usd": self.budget_usd,
        }


def _usd(amount: Decimal) -> str:
    return f"${amount:.2f}" if amount >= Decimal("0.01") or amount == 0 else f"${amount:.6f}".rstrip("0")


def budget_error(client: ClientRecord, spent: Decimal) -> RouteDeskError:
    budget = client.budget_usd or Decimal(0)
    return RouteDeskError(
        ErrorKind.QUOTA_EXHAUSTED,
        f"The client {client.name!r} has used its monthly budget of {_usd(budget)} on RouteDesk's local "
        f"endpoint ({_usd(spent)} spent this month), so RouteDesk did not send this request.",
        f"Raise the budget with `routedesk clients budget {client.name} USD` (or in Settings → Local endpoint), "
        "or wait for the new month.",
        code="client_budget_exceeded",
    )


class ClientService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        # token hash -> client, valid while no other connection has written to the database
        self._known: dict[str, ClientRecord] = {}
        self._version: int | None = None

    @property
    def _store(self) -> ClientStore:
        return ClientStore(self._e.store)

    def add(self, name: str, budget_usd: Decimal | None = None) -> tuple[ClientInfo, str]:
        """A new client and its token (the only time the token exists outside the tool)."""
        name = name.strip()
        if not _NAME.match(name):
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{name!r} can't be a client's name.",
                                 "Use up to 64 letters, digits, spaces and . _ - @ +, for example `vscode`.")
        if budget_usd is not None and (not budget_usd.is_finite() or budget_usd < 0):
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "A budget is a positive amount in USD per month.",
                                 "For example `--budget 5`.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            rec = self._store.add(name, token, budget_usd)
        except ValueError:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"There is already a client called {name!r}.",
                                 f"Pick another name, or remove it first with `routedesk clients remove {name}`.") \
                from None
        return self._info(rec), token

    def list(self) -> list[ClientInfo]:
        return [self._info(r) for r in self._store.list()]

    def remove(self, name: str) -> None:
        """Revoke at once: the next request with the token is refused, server running or not."""
        self._known.clear()
        if not self._store.revoke(name):
            raise self._unknown(name)

    def set_budget(self, name: str, budget_usd: Decimal | None) -> ClientInfo:
        if budget_usd is not None and (not budget_usd.is_finite() or budget_usd < 0):
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "A budget is a positive amount in USD per month.",
                                 "For example `5`, or `none` for no limit.")
        self._known.clear()
        if not self._store.set_budget(name, budget_usd):
            raise self._unknown(name)
        rec = self._store.get(name)
        assert rec is not None
        return self._info(rec)

    def authenticate(self, token: str | None) -> ClientRecord | None:
        """The active client holding ``token``, else None; every request asks. A token seen
        before is answered from memory while SQLite's ``data_version`` says no other
        connection has committed since (``routedesk clients remove`` in another process
        bumps it) and this service has revoked or changed nothing, so a revocation is
        honoured at the very next request and the first byte waits on no query."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        version = self._e.store.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._known.clear()
            self._version = version
        digest = token_hash(token)
        rec = self._known.get(digest)
        if rec is None:
            rec = self._store.authenticate(token)
            if rec is not None:
                self._known[digest] = rec
        return rec

    def touch(self, client: ClientRecord) -> None:
        """Stamp the client's last use (the server calls it once the response is out)."""
        self._store.touch(client.id)

    def month_spent(self, client: ClientRecord) -> Decimal:
        return self._store.spent(client.id, since=month_start(self._e.spend.now()))

    def over_budget(self, client: ClientRecord) -> RouteDeskError | None:
        """The refusal for a client whose month's spend has reached its budget, else None."""
        if client.budget_usd is None:
            return None
        spent = self.month_spent(client)
        return budget_error(client, spent) if spent >= client.budget_usd else None

    def _info(self, rec: ClientRecord) -> ClientInfo:
        return ClientInfo(rec.name, rec.created_at, rec.last_used_at, self.month_spent(rec), rec.budget_usd)

    @staticmethod
    def _unknown(name: str) -> RouteDeskError:
        return RouteDeskError(ErrorKind.MISCONFIGURED, f"There is no client called {name!r}.",
                              "See the clients with `routedesk clients list`.")
