"""Server-sent events read from an httpx response, comments included.

httpx_sse drops comment lines (``: OPENROUTER PROCESSING``), as the SSE spec allows, but
a comment is the only sign of life OpenRouter gives while its upstream is slow: the
between-token deadline must hear it, or a healthy answer ends as a timeout. So the
framing is decoded here (the spec's rules: lines end with CR LF, LF or CR; ``field:
value`` with one optional space; a blank line dispatches; ``data`` lines join with LF)
and each comment is reported to ``on_comment`` instead of being dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

__all__ = ["SSE", "iter_sse"]


@dataclass(frozen=True)
class SSE:
    event: str
    data: str


def _lines(buffer: str) -> tuple[list[str], str]:
    """Complete lines in ``buffer`` and the unfinished rest. A CR at the very end stays in
    the rest: it may be the first half of CR LF."""
    out: list[str] = []
    start = 0
    i = 0
    n = len(buffer)
    while i < n:
        ch = buffer[i]
        if ch == "\n":
            out.append(buffer[start:i])
            start = i = i + 1
        elif ch == "\r":
            if i + 1 == n:
                break
            out.append(buffer[start:i])
            i += 2 if buffer[i + 1] == "\n" else 1
            start = i
        else:
            i += 1
    return out, buffer[start:]


async def iter_sse(response: httpx.Response, on_comment: Callable[[str], None] | None = None) -> AsyncIterator[SSE]:
    """The events of ``response``'s body; an event still open when the body ends is
    dropped, as the spec says (a stream cut mid-event has no such event)."""
    event, has_data = "", False
    data: list[str] = []
    rest = ""
    async for text in response.aiter_text():
        lines, rest = _lines(rest + text)
        for line in lines:
            if not line:
                if has_data or event:
                    yield SSE(event or "message", "\n".join(data))
                event, data, has_data = "", [], False
                continue
            if line.startswith(":"):
                if on_comment is not None:
                    on_comment(line[1:].strip())
                continue
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
                has_data = True
    if rest.endswith("\r"):
        rest = rest[:-1]
        if rest == "" and (has_data or event):
            yield SSE(event or "message", "\n".join(data))
