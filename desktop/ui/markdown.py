"""Markdown for the chat: split an answer into prose and fenced code blocks, and a
small syntax highlighter for the code.

Prose goes to ``QTextDocument.setMarkdown`` (no WebEngine); code blocks get their own
read-only editor with a highlighter and a Copy button (see ``chat_view.CodeBlock``).
The splitter is tolerant of a stream that stops in the middle of a fence: the open
block is shown as code until its closing fence arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette, QSyntaxHighlighter, QTextCharFormat

__all__ = ["Segment", "split_segments", "CodeHighlighter", "is_dark"]

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


_KEYWORDS = {
    "python": "and as assert async await break class continue def del elif else except False finally for "
    "from global if import in is lambda None nonlocal not or pass raise return True try while with yield "
    "match case self",
    "js": "async await break case catch class const continue debugger default delete do else export extends false "
    "finally for function if import in instanceof let new null return super switch this throw true try typeof "
    "undefined var void while yield interface type enum implements",
    "c": "auto break case char const continue default do double else enum extern float for goto if int long "
    "register return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "class public private protected virtual template typename namespace using new delete true false nullptr "
    "fn let mut impl pub use mod match trait where self Self struct enum loop move ref crate func package go "
    "defer chan map range var import type interface",
    "shell": "if then else elif fi for while do done case esac function in export local return echo cd sudo",
    "sql": "select from where insert into values update set delete create table index drop alter join left "
    "right inner outer on group by order having limit offset as and or not null primary key",
}
_LANG_FAMILY = {
    "python": "python", "py": "python", "python3": "python",
    "js": "js", "javascript": "js", "ts": "js", "typescript": "js", "jsx": "js", "tsx": "js",
    "c": "c", "cpp": "c", "c++": "c", "h": "c", "java": "c", "rust": "c", "rs": "c", "go": "c",
    "csharp": "c", "cs": "c", "kotlin": "c", "swift": "c",
    "bash": "shell", "sh": "shell", "shell": "shell", "zsh": "shell", "console": "shell",
    "sql": "sql",
}


class CodeHighlighter(QSyntaxHighlighter):
    """Keywords, strings, numbers and comments; enough to read code at a glance."""

    def __init__(self, document, lang: str, dark: bool) -> None:
        super().__init__(document)
        family = _LANG_FAMILY.get(lang.lower(), "c" if lang else "")
        self._rules: list[tuple[re.Pattern, QTextCharFormat]] = []

        def fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setForeground(QColor(color))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontItalic(italic)
            return f

        kw = fmt("#c678dd" if dark else "#a626a4", bold=True)
        num = fmt("#d19a66" if dark else "#986801")
        string = fmt("#98c379" if dark else "#50a14f")
        comment = fmt("#7f848e" if dark else "#8a8f98", italic=True)
        func = fmt("#61afef" if dark else "#4078f2")
        words = _KEYWORDS.get(family, "")
        if family == "sql":
            words_re = re.compile(r"\b(?:" + "|".join(words.split()) + r")\b", re.IGNORECASE)
        elif words:
            words_re = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words.split()) + r")\b")
        else:
            words_re = None
        if words_re is not None:
            self._rules.append((words_re, kw))
        self._rules.append((re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?=\()"), func))
        self._rules.append((re.compile(r"\b(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\b"), num))
        self._rules.append((re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`"), string))
        if family in ("python", "shell") or lang.lower() in ("yaml", "yml", "toml", "ini", "r", "ruby", "rb", "perl"):
            self._rules.append((re.compile(r"#.*$"), comment))
        if family in ("js", "c") or not family:
            self._rules.append((re.compile(r"//.*$"), comment))
        if family == "sql":
            self._rules.append((re.compile(r"--.*$"), comment))

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt API)
        for pattern, f in self._rules:
            for m in pattern.finditer(text):
                self.setFormat(m.start(), m.end() - m.start(), f)
