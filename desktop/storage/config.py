"""Providers, settings and price overrides: what the user set up."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

from desktop.core.types import ModelRef
from desktop.storage.columns import json_text, money_text, redact_error_values, time_of
from desktop.storage.connection import StoreCore
from desktop.storage.records import PriceOverride, ProviderRecord

__all__ = ["ConfigStore"]


class ConfigStore(StoreCore):
    # -- providers -----------------------------------------------------------------

    def add_provider(
        self,
        name: str,
        kind: str,
        base_url: str | None,
        *,
        options: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> ProviderRecord:
        """Add a provider; raises ValueError if the name is taken (unless ``replace``).
        ``options`` holds what the engine reads per provider (its timeout)."""
        now = self._stamp()
        params = (name, kind, base_url, json_text(options or {}), now, now)
        insert = (
            "INSERT INTO providers (name, kind, base_url, options, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        if replace:
            self._x(
                insert + " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url,"
                " options = excluded.options, updated_at = excluded.updated_at",
                params,
            )
        else:
            try:
                self._x(insert, params)
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
        options: dict[str, Any] | None = None,
    ) -> ProviderRecord:
        """Change the given fields (None leaves a field as it is). Raises KeyError if unknown."""
        sets, params = [], []
        for column, value in (("kind", kind), ("base_url", base_url)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if options is not None:
            sets.append("options = ?")
            params.append(json_text(options))
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
            options=json.loads(row["options"] or "{}"),
            created_at=time_of(row["created_at"]),
            updated_at=time_of(row["updated_at"]),
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
            (key, json_text(redact_error_values(value)), self._stamp()),
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
        inp = money_text(input_per_mtok, "input_per_mtok")
        out = money_text(output_per_mtok, "output_per_mtok")
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
            updated_at=time_of(row["updated_at"]),
        )
