"""Markdown in the chat: prose browsers as tall as their text, and fenced code blocks with
a language label, a Copy button and highlighting, updated in place while an answer streams."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.markdown import Segment, is_dark, split_segments
from desktop.ui.theme import set_icon

__all__ = ["AutoBrowser", "CodeBlock", "RichText"]


class AutoBrowser(QTextBrowser):
    """A QTextBrowser as tall as its document: no scrollbars, no frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prose")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setOpenExternalLinks(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self._fit()

    def _fit(self, *_a) -> None:
        h = int(self.document().size().height() + 0.999) + 2 * self.frameWidth()
        if h != self.height():
            self.setFixedHeight(max(h, self.fontMetrics().height()))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self.height())

    def wheelEvent(self, e) -> None:  # let the chat scroll
        e.ignore()


class CodeBlock(QFrame):
    """A fenced code block: language, Copy button, highlighted monospace text."""

    def __init__(self, seg: Segment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.lang = seg.lang
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 4)
        lay.setSpacing(0)
        head = QHBoxLayout()
        self.lang_label = QLabel(seg.lang or "code")
        self.lang_label.setObjectName("codeLang")
        self.copy_btn = QToolButton()
        self.copy_btn.setObjectName("action")
        self.copy_btn.setText("Copy")
        set_icon(self.copy_btn, "copy")
        self.copy_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_btn.setToolTip("Copy this code")
        self.copy_btn.clicked.connect(self.copy)
        head.addWidget(self.lang_label)
        head.addStretch(1)
        head.addWidget(self.copy_btn)
        lay.addLayout(head)
        self.edit = QPlainTextEdit()
        self.edit.setReadOnly(True)
        self.edit.setFrameShape(QFrame.Shape.NoFrame)
        self.edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.edit.setWordWrapMode(QTextOption.WrapMode.NoWrap)
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.edit.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.edit.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.edit.viewport().setAutoFillBackground(False)
        # imported with the first code block: a conversation without code never loads the
        # highlighter's Qt text-format classes (their enums cost ~10 ms of the window's start)
        from desktop.ui.highlight import CodeHighlighter

        self.highlighter = CodeHighlighter(self.edit.document(), seg.lang, is_dark(self.palette()))
        lay.addWidget(self.edit)
        self._text = ""
        self.set_text(seg.text)

    def set_text(self, text: str) -> None:
        if text == self._text:
            return
        if text.startswith(self._text) and self._text:
            cur = self.edit.textCursor()
            cur.movePosition(cur.MoveOperation.End)
            cur.insertText(text[len(self._text):])
        else:
            self.edit.setPlainText(text)
        self._text = text
        self._fit()

    def text(self) -> str:
        return self._text

    def _fit(self) -> None:
        lines = max(1, self._text.count("\n") + 1)
        fm = self.edit.fontMetrics()
        h = lines * fm.lineSpacing() + 2 * int(self.edit.document().documentMargin()) + 4
        sb = self.edit.horizontalScrollBar()
        longest = max((fm.horizontalAdvance(line) for line in self._text.split("\n")), default=0)
        if longest + 20 > self.edit.viewport().width() > 0:
            h += sb.sizeHint().height()
        self.edit.setFixedHeight(h)

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        self._fit()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.copy_btn.setText("Copied")
        QTimer.singleShot(1500, self.copy_btn, lambda: self.copy_btn.setText("Copy"))


#: Least size of a frozen piece of a streaming answer's last prose segment (characters).
STREAM_CHUNK = 2000


def _pieces(seg: Segment) -> list[Segment]:
    """``seg`` cut at paragraph breaks into pieces of at least STREAM_CHUNK characters and
    the rest. A piece ends at the first blank line past its minimum size, so the pieces
    already cut stay the same while text is appended."""
    text, out, start = seg.text, [], 0
    while len(text) - start > STREAM_CHUNK:
        cut = text.find("\n\n", start + STREAM_CHUNK)
        if cut < 0:
            break
        out.append(Segment("prose", text[start:cut]))
        start = cut + 2
    out.append(Segment("prose", text[start:]) if start else seg)
    return out


class RichText(QWidget):
    """Markdown as a column of prose browsers and code blocks, updated in place."""

    def __init__(self, parent: QWidget | None = None, *, plain: bool = False) -> None:
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(6)
        self._segs: list[Segment] = []
        self._widgets: list[QWidget] = []
        self._plain = plain
        self._text = ""
        self._streaming = False

    def set_text(self, text: str, *, streaming: bool = False) -> None:
        """Show ``text``; ``streaming``: it is still growing at its end, so its last prose
        segment is shown as a column of frozen pieces of whole paragraphs (``STREAM_CHUNK``
        characters or more) and the open tail, and each update re-renders only the tail
        instead of all of it (Markdown parsing and layout grow with the text: a long answer
        at 5,000 tokens/s would otherwise stall the window). The text is shown whole, in
        one piece per segment, once it stops streaming."""
        if text == self._text and streaming == self._streaming:
            return
        self._text = text
        self._streaming = streaming
        segs = [Segment("prose", text)] if self._plain else split_segments(text)
        if streaming and segs and segs[-1].kind == "prose":
            segs[-1:] = _pieces(segs[-1])
        for i, seg in enumerate(segs):
            if i < len(self._segs) and self._segs[i] == seg:
                continue
            w = self._widgets[i] if i < len(self._widgets) else None
            if w is not None and ((seg.kind == "code") != isinstance(w, CodeBlock) or
                                  (isinstance(w, CodeBlock) and w.lang != seg.lang)):
                self._lay.removeWidget(w)
                w.deleteLater()
                self._widgets[i] = w = None
            if w is None:
                w = CodeBlock(seg) if seg.kind == "code" else AutoBrowser()
                if i < len(self._widgets):
                    self._widgets[i] = w
                else:
                    self._widgets.append(w)
                self._lay.insertWidget(i, w)
            if isinstance(w, CodeBlock):
                w.set_text(seg.text)
            elif self._plain:
                w.setPlainText(seg.text)
            else:
                w.setMarkdown(seg.text)
        for w in self._widgets[len(segs):]:
            self._lay.removeWidget(w)
            w.deleteLater()
        del self._widgets[len(segs):]
        self._segs = segs

    def text(self) -> str:
        return self._text

    def code_blocks(self) -> list[CodeBlock]:
        return [w for w in self._widgets if isinstance(w, CodeBlock)]
