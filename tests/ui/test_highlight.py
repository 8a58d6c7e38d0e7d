"""Code blocks are coloured by Pygments, across lines, and stay cheap while an answer streams."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit

from desktop.ui.highlight import CodeHighlighter, lex_lines, lexer_for
from desktop.ui.rich_text import RichText

PY = 'def area(r):\n    """Area of a circle.\n\n    r: the radius\n    """\n    return 3.14 * r ** 2  # close enough\n'


def _formats(doc: QTextDocument, line: int) -> dict[str, tuple[str, bool, bool]]:
    """What a reader sees on one line: each coloured piece of text, its colour, bold, italic."""
    block = doc.findBlockByNumber(line)
    text = block.text()
    out = {}
    for r in block.layout().formats():
        f = r.format
        out[text[r.start:r.start + r.length]] = (f.foreground().color().name(), f.fontWeight() > 500, f.fontItalic())
    return out


def _colour_of(doc: QTextDocument, line: int, words: str) -> str:
    (colour,) = {c for piece, (c, _b, _i) in _formats(doc, line).items() if words in piece}
    return colour


def test_python_keywords_strings_and_comments_are_coloured(qtbot):
    view = RichText()
    qtbot.addWidget(view)
    view.set_text(f"Here:\n\n```python\n{PY}```\n")
    (block,) = view.code_blocks()
    doc = block.edit.document()
    qtbot.waitUntil(lambda: _formats(doc, 0) != {})  # the first Python block: its lexer compiles off the UI thread
    first = _formats(doc, 0)
    assert "def" in first and "area" in first
    assert first["def"][0] != first["area"][0]  # keyword and function name look different
    last = _formats(doc, 5)
    assert "# close enough" in last and last["# close enough"][2]  # comments in italics
    # the docstring's middle line is inside a string that began two lines up
    assert _colour_of(doc, 3, "r: the radius") == _colour_of(doc, 1, "Area of a circle")
    assert block.text() == PY.rstrip("\n")  # colour never changes the text


def test_unknown_or_missing_language_is_plain_text(qtbot):
    view = RichText()
    qtbot.addWidget(view)
    view.set_text("```no-such-language\nif x: return 1\n```\n\n```\nplain\n```\n")
    blocks = view.code_blocks()
    assert [b.text() for b in blocks] == ["if x: return 1", "plain"]
    assert all(_formats(b.edit.document(), 0) == {} for b in blocks)


def test_streamed_block_ends_with_the_colours_of_the_whole_text(qtbot):
    """Appended a few characters at a time, as an answer streams, the block is coloured as if
    it had arrived at once, and each append lexes only the end, not the whole block."""
    body = "\n\n".join(f"def f{i}(x):\n    s = 'a{i}'  # note\n    return x + {i}" for i in range(200))
    edit = QPlainTextEdit()  # a code block's editor: its document has a layout, as on screen
    qtbot.addWidget(edit)
    doc = edit.document()
    hl = CodeHighlighter(doc, "python", dark=False)
    doc.setPlainText("import os")
    qtbot.waitUntil(lambda: _formats(doc, 0) != {})  # the lexer, then Qt's highlight pass, from the event loop
    lexed: list[int] = []
    real = hl.lexer.get_tokens_unprocessed

    def counting(text, *a, **kw):
        lexed.append(len(text))
        return real(text, *a, **kw)

    hl.lexer = type("Counting", (), {"get_tokens_unprocessed": staticmethod(counting)})()
    cur = QTextCursor(doc)
    cur.select(QTextCursor.SelectionType.Document)
    cur.removeSelectedText()
    for k in range(0, len(body), 7):
        cur.movePosition(QTextCursor.MoveOperation.End)
        cur.insertText(body[k:k + 7])
    assert doc.toPlainText() == body
    whole = lex_lines(lexer_for("python"), body)
    assert [hl.spans(i) for i in range(len(whole))] == whole
    assert max(lexed[len(lexed) // 2:]) < 200  # each late append re-lexed one small function, not 13 kB


def test_a_languages_first_block_does_not_wait_for_its_lexer(qtbot):
    """Pygments compiles a lexer's rules the first time (tens of ms): the block shows at
    once, plain, and is coloured when the worker thread has compiled them."""
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    doc = edit.document()
    hl = CodeHighlighter(doc, "ocaml", dark=False)  # no other test shows OCaml
    assert hl.lexer is None  # not compiled on the UI thread
    doc.setPlainText("let rec fact n = if n = 0 then 1 else n * fact (n - 1)")
    qtbot.waitUntil(lambda: hl.lexer is not None and _formats(doc, 0) != {})
    assert "let" in _formats(doc, 0)  # a keyword, coloured
    other = QPlainTextEdit()
    qtbot.addWidget(other)
    second = CodeHighlighter(other.document(), "ocaml", dark=False)
    assert second.lexer is not None  # later blocks of the language colour at once
