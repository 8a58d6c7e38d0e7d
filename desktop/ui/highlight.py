"""Syntax highlighting for code blocks, by Pygments, applied through a QSyntaxHighlighter.

Pygments knows hundreds of languages and their edge cases (nested strings, heredocs,
f-strings) that a hand-written rule list gets wrong. It is imported when the first code
block is shown, so a window without code never pays for it.

Streaming is the hard part: an answer grows a few characters at a time, and lexing a
300-line block takes tens of milliseconds, too long to redo on every delta. So the block
is lexed again only from the last *restart point* before the change: a line that starts
at column 0 after a blank line, where every language Pygments lexes here is back at its
top level in practice. A rare construct that spans such a point (a docstring with a blank
line then unindented text) can be coloured from the restart as if it were code until the
block is set again; the colours are cosmetic and the text is never touched.

The first block of each language waits for its lexer in a worker thread: Pygments
compiles a lexer's rules on first use (30-40 ms for Python, 45 for CSS), which on the UI
thread stalls a streaming answer. The block shows plain until then, a moment later.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import shiboken6
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from desktop.ui import prefetch

__all__ = ["CodeHighlighter", "lexer_for"]

#: Pygments styles for a light and a dark chat.
LIGHT_STYLE = "default"
DARK_STYLE = "one-dark"

Span = tuple[int, int, Any]  # (start in line, length, Pygments token type)


@cache
def lexer_for(lang: str) -> Any | None:
    """The Pygments lexer for a fence's language tag, or None (plain text): an empty or
    unknown tag, or a language whose lexer the frozen app does not bundle."""
    if not lang.strip():
        return None
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang.strip().lower())
    except (ClassNotFound, ImportError):  # ImportError: a lexer module left out of the bundle
        return None


@cache
def _format(dark: bool, ttype: Any) -> QTextCharFormat | None:
    """The character format of a token type in the light or dark style; None for a token
    the style leaves plain. Background colours are ignored: the block has its own."""
    from pygments.styles import get_style_by_name

    spec = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE).style_for_token(ttype)
    if not (spec.get("color") or spec.get("bold") or spec.get("italic")):
        return None
    fmt = QTextCharFormat()
    if spec.get("color"):
        fmt.setForeground(QColor("#" + spec["color"]))
    if spec.get("bold"):
        fmt.setFontWeight(QFont.Weight.Bold)
    if spec.get("italic"):
        fmt.setFontItalic(True)
    return fmt


def _restart_line(lines: list[str], changed: int) -> int:
    """The last line at or before ``changed`` from which lexing can start afresh."""
    for i in range(min(changed, len(lines) - 1), 0, -1):
        line = lines[i]
        if line[:1] and not line[:1].isspace() and not lines[i - 1].strip():
            return i
    return 0


def lex_lines(lexer: Any, text: str) -> list[list[Span]]:
    """Per line of ``text``: the spans Pygments gives it, split at line ends."""
    out: list[list[Span]] = [[]]
    col = 0
    for _index, ttype, value in lexer.get_tokens_unprocessed(text):
        parts = value.split("\n")
        for k, part in enumerate(parts):
            if k:
                out.append([])
                col = 0
            if part:
                out[-1].append((col, len(part), ttype))
                col += len(part)
    want = text.count("\n") + 1
    del out[want:]
    out.extend([] for _ in range(want - len(out)))
    return out


class CodeHighlighter(QSyntaxHighlighter):
    """Colours one code block's document with Pygments, re-lexing only what changed."""

    def __init__(self, document: QTextDocument, lang: str, dark: bool) -> None:
        super().__init__(None)
        self.setParent(document)
        self.lang = lang
        self.lexer: Any | None = None  # set once the language's lexer is compiled (see above)
        self.dark = dark
        self._text = ""
        self._lines: list[list[Span]] = []
        self._stale = True
        # Connected before setDocument, so it runs before Qt's own slot re-highlights the
        # changed lines (slots run in the order they were connected).
        document.contentsChange.connect(self._on_change)
        self.setDocument(document)
        if lang.strip():
            key = "lexer:" + lang.strip().lower()
            if prefetch.is_done(key):
                self.lexer = lexer_for(lang)
            else:
                prefetch.run_then(key, lambda: lexer_for(lang), self._lexer_ready)

    def _lexer_ready(self) -> None:
        if not shiboken6.isValid(self):
            return  # the block went away meanwhile
        self.lexer = lexer_for(self.lang)
        if self.lexer is not None:
            self._stale, self._lines, self._text = True, [], ""
            self.rehighlight()

    def _on_change(self, *_args: object) -> None:
        self._stale = True

    def _update(self) -> None:
        if not self._stale:
            return
        self._stale = False
        text = self.document().toPlainText()
        if self.lexer is None or text == self._text:
            self._text = text
            return
        changed = len(os.path.commonprefix([self._text, text])) if self._lines else 0
        lines = text.split("\n")
        start = _restart_line(lines, text.count("\n", 0, changed))
        offset = sum(len(line) + 1 for line in lines[:start])
        self._lines = self._lines[:start] + lex_lines(self.lexer, text[offset:])
        self._text = text

    def spans(self, line: int) -> list[Span]:
        """The token spans of one line (for tests and the highlighter itself)."""
        self._update()
        return self._lines[line] if 0 <= line < len(self._lines) else []

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt API)
        if self.lexer is None:
            return
        n = self.currentBlock().blockNumber()
        for start, length, ttype in self.spans(n):
            fmt = _format(self.dark, ttype)
            if fmt is not None:
                self.setFormat(start, length, fmt)
        # Qt re-highlights the next line only when this line's state changes: make the state
        # the next line's spans, so a change that recolours later lines reaches them.
        self.setCurrentBlockState(hash(tuple((s, ln, str(t)) for s, ln, t in self.spans(n + 1))) & 0x3FFFFFFF)
