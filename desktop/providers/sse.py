"""Server-sent events read from an httpx response, comments included.

httpx_sse drops comment lines (``: OPENROUTER PROCESSING``), as the SSE spec allows, but
a comment is the only sign of life OpenRouter gives while its upstream is slow: the
between-token deadline must hear it, or a healthy answer ends as a timeout. So the
framing is decoded here (the spec's rules: lines end with CR LF, LF or CR; ``field:
value`` with one optional space; a blank line dispatches; ``data`` lines join with LF)
and each comment is reported to ``on_comment`` instead of being dropped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

__all__ = ["SSE", "iter_sse"]


@dataclass(frozen=True)
class SSE:
    event: str
    data: str


_EOL = re.compile(r"\r\n|\r|\n")


def _lines(buffer: str) -> tuple[list[str], str]:
    """Complete lines in ``buffer`` and the unfinished rest. A CR at the very end stays in
    the rest: it may be the first half of CR LF."""
    hold = ""
    if buffer.endswith("\r"):
        buffer, hold = buffer[:-1], "\r"
    parts = _EOL.split(buffer)
    rest = parts.pop()
    return parts, rest + hold


async def iter_sse(response: httpx.Response, on_comment: Callable[[str], None] | None = None) -> AsyncIterator[SSE]:
    """The events of ``response``'s body; an event still open when the body ends is
    dropped, as the spec says (a stream cut mid-event has no such event)."""
    event, has_data = "", False
    data: list[str] = []
    rest = ""
    async for text in response.aiter_text():
        if not rest.endswith("\r") and "\n" not in text and "\r" not in text:
            rest += text  # the middle of a long line: nothing to split yet (and no rescans)
            continue
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
