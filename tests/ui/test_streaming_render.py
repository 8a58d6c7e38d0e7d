"""A long answer streams without re-rendering what is already on screen: the paragraphs
shown earlier stay as they were (their documents untouched), only the open tail is
rendered again; once the answer ends it is shown whole, as any stored answer is."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTextBrowser

from desktop.ui.rich_text import STREAM_CHUNK, CodeBlock, RichText


def _paragraphs(n: int) -> str:
    return "\n\n".join(f"Paragraph {i}: " + " ".join(f"**w{i}_{j}**" for j in range(12)) for i in range(n))


def _browsers(rt: RichText) -> list[QTextBrowser]:
    return [w for w in rt._widgets if isinstance(w, QTextBrowser)]


def test_streaming_updates_rerender_only_the_tail(qtbot):
    rt = RichText()
    qtbot.addWidget(rt)
    text = "Intro.\n\n```python\nprint(1)\n```\n\n" + _paragraphs(60)
    assert len(text) > 3 * STREAM_CHUNK
    rt.set_text(text, streaming=True)
    shown = _browsers(rt)
    assert len(shown) >= 3  # the intro, frozen pieces of the last segment, the tail
    revisions = [b.document().revision() for b in shown]
    rt.set_text(text + " and more words at the end", streaming=True)
    after = _browsers(rt)
    assert after[:-1] == shown[:-1]  # the same widgets...
    assert [b.document().revision() for b in after[:-1]] == revisions[:-1]  # ...not rendered again
    assert "more words at the end" in after[-1].toPlainText()
    assert all("**" not in b.toPlainText() for b in after)  # still Markdown, not raw text

    final = text + " and more words at the end."
    rt.set_text(final)  # the answer ended: one browser per prose segment, as a stored answer
    stored = RichText()
    qtbot.addWidget(stored)
    stored.set_text(final)
    def kinds(r: RichText) -> list[str]:
        return ["code" if isinstance(w, CodeBlock) else "prose" for w in r._widgets]

    assert kinds(rt) == kinds(stored) == ["prose", "code", "prose"]
    assert [b.toPlainText() for b in _browsers(rt)] == [b.toPlainText() for b in _browsers(stored)]
    assert rt.text() == final


def test_a_long_answer_leaves_no_timer_per_token_behind(ui, qtbot, sim, qloop):
    """Each streamed event re-arms the provider's 60 s silence deadline; the loop must drop
    the deadline it replaced, not keep one Qt timer (and its handle) per token for a minute."""
    controller, window = ui
    words = 3000
    sim.reply = lambda messages: " ".join(f"w{i}" for i in range(words))
    pending = qloop._timer._SimpleTimer__callbacks  # qasync's timers waiting to fire
    window.input.edit.setPlainText("count")
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not controller.busy, timeout=60000)
    assert len(controller.session.items[-1].text.split()) == words
    assert len(pending) < 100, f"{len(pending)} timers still pending after a {words}-token answer"
