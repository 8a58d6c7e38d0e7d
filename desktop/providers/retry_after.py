"""How long a provider asks us to wait: Retry-After (seconds or an HTTP date),
retry-after-ms, the x-ratelimit-reset-* / anthropic-ratelimit-*-reset headers, or "try
again in 20s" in the body; capped, and never raising."""

from __future__ import annotations

import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["parse_retry_after", "RETRY_AFTER_CAP"]

#: Longest wait we pass on; a provider asking for more is better left for a fallback.
RETRY_AFTER_CAP = 60.0
_SCAN_LIMIT = 20_000


def _headers_dict(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if not headers:
        return out
    try:
        items = headers.items() if hasattr(headers, "items") else headers
        for item in items:
            try:
                k, v = item
            except Exception:
                continue
            try:
                if isinstance(k, (bytes, bytearray)):
                    k = bytes(k).decode("latin-1")
                if isinstance(v, (bytes, bytearray)):
                    v = bytes(v).decode("latin-1")
                out[str(k).strip().lower()] = str(v).strip()
            except Exception:
                continue
    except Exception:
        return out
    return out


def _dur(text: str) -> float | None:
    """OpenAI's reset format: "1s", "6m0s", "20ms", "1h2m3.5s"."""
    text = text.strip().lower()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    matched = False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        matched = True
        n = float(num)
        total += {"ms": n / 1000, "s": n, "m": n * 60, "h": n * 3600}[unit]
    return total if matched else None


def _finite(x: float | None) -> float | None:
    if x is None or x != x or x in (float("inf"), float("-inf")):
        return None
    return x


def parse_retry_after(headers: Any, body_text: str = "", *, now: float | None = None) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date), retry-after-ms,
    x-ratelimit-reset-* / anthropic-ratelimit-*-reset, or "try again in 20s" in the body;
    capped at ``RETRY_AFTER_CAP``. None when nothing says."""
    try:
        h = _headers_dict(headers)
        now = time.time() if now is None else now
        value: float | None = None
        if "retry-after-ms" in h:
            try:
                value = float(h["retry-after-ms"]) / 1000
            except ValueError:
                value = None
        if _finite(value) is None and "retry-after" in h:
            raw = h["retry-after"]
            try:
                value = float(raw)
            except ValueError:
                try:
                    value = parsedate_to_datetime(raw).timestamp() - now
                except Exception:
                    value = None
        if _finite(value) is None:
            candidates: list[float] = []
            for name, raw in h.items():
                if name.startswith("x-ratelimit-reset") or (
                    name.startswith("anthropic-ratelimit-") and name.endswith("-reset")
                ):
                    d = _dur(raw)
                    if d is not None and name == "x-ratelimit-reset" and d > 1e9:
                        # OpenRouter: an epoch timestamp in milliseconds (or seconds).
                        d = (d / 1000 if d > 1e11 else d) - now
                    if d is None:
                        try:
                            d = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() - now
                        except Exception:
                            d = None
                    d = _finite(d)
                    if d is not None:
                        candidates.append(d)
            if candidates:
                value = max(candidates)
        if _finite(value) is None and body_text:
            m = re.search(r"(?i)try again in\s+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?)?\b",
                          body_text[:_SCAN_LIMIT])
            if m:
                n = float(m.group(1))
                unit = (m.group(2) or "s").lower()
                value = n / 1000 if unit == "ms" else n * 60 if unit.startswith("m") and unit != "ms" else n
        value = _finite(value)
        if value is None:
            return None
        return float(min(max(value, 0.0), RETRY_AFTER_CAP))
    except Exception:
        return None
