"""Markdown for the chat: split an answer into prose and fenced code blocks.

Prose goes to ``QTextDocument.setMarkdown`` (no WebEngine); code blocks get their own
read-only editor, coloured by Pygments (``ui.highlight``), with a Copy button
(``rich_text.CodeBlock``).
The splitter is tolerant of a stream that stops in the middle of a fence: the open
block is shown as code until its closing fence arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import QPalette

__all__ = ["Segment", "split_segments", "is_dark"]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Segment:
    kind: str  # "prose" | "code"
    text: str
    lang: str = ""
    closed: bool = True


def split_segments(text: str) -> list[Segment]:
    """Prose and fenced code, in order. Empty prose between blocks is dropped."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] = []
    fence = ""
    lang = ""
    in_code = False
    for line in text.split("\n"):
        if not in_code:
            m = _FENCE.match(line)
            if m:
                if "".join(prose).strip():
                    segments.append(Segment("prose", "\n".join(prose).strip("\n")))
                prose = []
                in_code = True
                fence = m.group("fence")
                lang = m.group("info").strip().split(" ")[0] if m.group("info") else ""
                code = []
            else:
                prose.append(line)
        else:
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) <= {fence[0]}:
                segments.append(Segment("code", "\n".join(code), lang, True))
                in_code = False
                code = []
            else:
                code.append(line)
    if in_code:
        segments.append(Segment("code", "\n".join(code), lang, False))
    elif "".join(prose).strip():
        segments.append(Segment("prose", "\n".join(prose).strip("\n")))
    return segments


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128
