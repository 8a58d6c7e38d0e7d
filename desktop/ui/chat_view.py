"""The conversation: user bubbles, answers rendered from Markdown with highlighted,
copyable code blocks, the routing line under each answer, and error / fallback cards.

Rendering stays cheap: deltas only mark an answer dirty and a 30 ms timer re-renders
it (only the last, still-open segment is rebuilt), and only the last ``PAGE`` messages
get widgets until the user asks for earlier ones.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import ErrorInfo
from desktop.core.fixes import Fix
from desktop.engine.explain import said
from desktop.ui.error_card import ErrorCard, error_title, fix_buttons
from desktop.ui.models import ChatSession, MessageItem
from desktop.ui.rich_text import CodeBlock, RichText
from desktop.ui.theme import fmt_cost, fmt_ms, fmt_tokens, set_icon

__all__ = ["ChatView", "AnswerWidget", "UserBubble", "CodeBlock", "ErrorCard", "RichText", "FLUSH_MS", "PAGE"]

FLUSH_MS = 30
PAGE = 40


def _button(text: str, slot: Callable, tip: str = "", icon_name: str = "", obj: str = "action") -> QToolButton:
    b = QToolButton()
    b.setObjectName(obj)
    b.setText(text)
    if icon_name:
        set_icon(b, icon_name)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    b.setToolTip(tip or text)
    b.setCursor(Qt.CursorShape.PointingHandCursor)
    b.clicked.connect(slot)
    return b


class UserBubble(QFrame):
    def __init__(self, item: MessageItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setObjectName("userBubble")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(2)
        role = QLabel("You")
        role.setObjectName("roleLabel")
        lay.addWidget(role)
        self.body = RichText(plain=True)
        self.body.set_text(item.text)
        lay.addWidget(self.body)
        fm = self.fontMetrics()
        longest = max((fm.horizontalAdvance(line) for line in item.text.splitlines()), default=0)
        self._ideal = max(longest, fm.horizontalAdvance("You")) + 40  # margins and document padding
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)

    def fit(self, limit: int) -> None:
        """As wide as the text needs, at most ``limit`` (long messages wrap)."""
        self.setFixedWidth(min(self._ideal, limit))


class AnswerWidget(QFrame):
    """One answer: fallback notices, the text, status, routing line, why?, actions."""

    def __init__(self, item: MessageItem, view: ChatView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.view = view
        self.setObjectName("answer")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(4)
        head = QHBoxLayout()
        self.role = QLabel("Answer")
        self.role.setObjectName("roleLabel")
        self.status_tag = QLabel()
        self.status_tag.setObjectName("statusTag")
        head.addWidget(self.role)
        head.addStretch(1)
        head.addWidget(self.status_tag)
        lay.addLayout(head)
        self.notices = QVBoxLayout()
        self.notices.setSpacing(4)
        lay.addLayout(self.notices)
        self.body = RichText()
        lay.addWidget(self.body)
        self.card_box = QVBoxLayout()
        lay.addLayout(self.card_box)
        self.meta = QLabel()
        self.meta.setObjectName("meta")
        self.meta.setTextFormat(Qt.TextFormat.RichText)
        self.meta.setWordWrap(True)
        self.meta.linkActivated.connect(self._on_link)
        lay.addWidget(self.meta)
        self.details = QLabel()
        self.details.setObjectName("details")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.hide()
        lay.addWidget(self.details)
        acts = QHBoxLayout()
        acts.setSpacing(2)
        self.copy_btn = _button("Copy", self.copy, "Copy the answer", "copy")
        self.regen_btn = _button("Regenerate", lambda: view.controller.regenerate(),
                                 "Answer again (routed as usual)", "refresh")
        self.strong_btn = _button("Retry with strong", lambda: view.controller.retry_strong(self.item),
                                  "Answer again with the strong model", "bolt")
        self.up_btn = _button("", lambda: self._feedback(1), "Good answer (teaches the router)", "thumb-up")
        self.down_btn = _button("", lambda: self._feedback(-1), "Bad answer (teaches the router)", "thumb-down")
        for b in (self.up_btn, self.down_btn):
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        for b in (self.copy_btn, self.regen_btn, self.strong_btn, self.up_btn, self.down_btn):
            acts.addWidget(b)
        acts.addStretch(1)
        lay.addLayout(acts)
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self.render_text)
        self._card_key: tuple[object, ...] | None = None  # what the card shows; redrawn when it changes
        self._notice_key: tuple[object, ...] | None = None
        self.refresh()

    # --- updates --------------------------------------------------------------------
    def on_delta(self) -> None:
        if not self._flush.isActive():
            self._flush.start()

    def render_text(self) -> None:
        self.body.set_text(self.item.text, streaming=self.item.status == "streaming")
        self.body.setVisible(bool(self.item.text) or self.item.status in ("pending", "streaming"))
        self.view.stick_to_bottom()

    def refresh(self) -> None:
        it = self.item
        self._flush.stop()
        self.render_text()
        tags = {"pending": "Thinking…", "streaming": "Answering…", "stopped": "Stopped", "interrupted": "Interrupted",
                "truncated": "Cut off"}
        self.status_tag.setText(tags.get(it.status, ""))
        self.status_tag.setVisible(it.status in tags)
        if it.status == "error":
            self.role.setText("No answer")
        elif it.model is not None:
            self.role.setText(str(it.model))
        self._refresh_notices()
        self._refresh_card()
        self.meta.setText(self._meta_html())
        self.meta.setToolTip(self._details_html())
        self.details.setText(self._details_html())
        last = self.view.is_last_answer(it)
        done = it.finished
        self.copy_btn.setVisible(bool(it.text))
        self.regen_btn.setVisible(done and last)
        on_strong = bool(it.route and it.model and it.model == self.view.controller.routing.strong)
        self.strong_btn.setVisible(done and last and not on_strong)
        self.up_btn.setVisible(done and it.id is not None and bool(it.text))
        self.down_btn.setVisible(self.up_btn.isVisible())
        self.up_btn.setChecked(it.feedback > 0)
        self.down_btn.setChecked(it.feedback < 0)

    def _meta_html(self) -> str:
        it = self.item
        if it.status == "pending" and it.route is None:
            return ""
        parts = []
        if it.model is not None:
            parts.append(html.escape(it.model.model))
        if it.served_model:
            parts.append(f"answered by {html.escape(it.served_model)}")
        if it.route is not None:
            parts.append(html.escape(it.route.choice))
        if it.usage is not None:
            parts.append(f"{fmt_tokens(it.usage.input_tokens)} in / {fmt_tokens(it.usage.output_tokens)} out tokens")
        if it.finished and it.status != "error":
            parts.append(fmt_cost(it.cost_usd, it.price_source) if it.usage is not None else "cost not reported")
        if it.ttft_ms is not None:
            parts.append(f"{fmt_ms(it.ttft_ms)} to first token")
        if it.fallback_used:
            parts.append("fallback")
        if not parts:
            return ""
        link = "hide" if self.details.isVisible() else "why?"
        return " · ".join(parts) + f" · <a href='why'>{link}</a>"

    def _details_html(self) -> str:
        it = self.item
        rows = []
        r = it.route
        if r is not None:
            if r.score is not None and r.threshold is not None:
                rows.append(f"Router score <b>{r.score:.2f}</b> against threshold <b>{r.threshold:.2f}</b>"
                            f" → <b>{html.escape(r.choice)}</b>")
            rows.append(f"Decision: {html.escape(r.reason)}")
            if r.reasons and not all(x in r.reason for x in r.reasons):  # not already in the sentence
                rows.append("Reasons: " + html.escape(", ".join(r.reasons)))
            rows.append(f"Policy: {html.escape(r.policy)}")
        final = [f for f in it.failures if not f.will_retry]
        retried = [f for f in it.failures if f.will_retry]
        for f in final:
            rows.append(f"Tried <b>{html.escape(str(f.model))}</b>: {html.escape(f.error.kind)}"
                        f" — {html.escape(f.error.message)}")
            if words := said(f.error):  # the server's own words, as on the error card
                rows.append(f"&nbsp;&nbsp;&nbsp;&nbsp;<i>{html.escape(words)}</i>")
        if retried:
            rows.append(f"Retried {len(retried)} time{'s' if len(retried) != 1 else ''} after temporary errors")
        if it.fallback_used and it.model is not None:
            rows.append(f"Fell back to <b>{html.escape(str(it.model))}</b>")
        if it.served_model and it.model is not None:
            rows.append(f"{html.escape(it.model.provider)} says <b>{html.escape(it.served_model)}</b> answered"
                        f" for {html.escape(it.model.model)}; billed as {html.escape(it.served_model)}")
        if it.price_source:
            rows.append(f"Price: {html.escape(it.price_source)}")
        return "<br>".join(rows) or "No routing details."

    def _refresh_notices(self) -> None:
        it = self.item
        shown = [f for f in it.failures if not f.will_retry]
        key = tuple((str(f.model), f.error.kind) for f in shown) + (it.status,)
        if key == self._notice_key:
            return
        self._notice_key = key
        while self.notices.count():
            w = self.notices.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        if it.status == "error":
            return  # the error card says it all
        for f in shown:
            info = f.error
            card = ErrorCard(info, notice=True, actions=fix_buttons(Fix.coerce(info.fix), self.view.controller))
            if it.model is not None and it.model != f.model:
                card.title.setText(card.title.text() + f" · answered with {it.model} instead")
            self.notices.addWidget(card)

    def _refresh_card(self) -> None:
        it = self.item
        key = (it.status, it.error.kind if it.error else None, it.error.message if it.error else None,
               None if it.notice is None else it.notice.message,
               self.view.is_last_answer(it) if it.status == "truncated" else None)
        if key == self._card_key:
            return
        self._card_key = key
        while self.card_box.count():
            w = self.card_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        c = self.view.controller
        if it.notice is not None and it.status == "truncated":
            self.card_box.addWidget(self._cut_card(it))
            return
        if it.status not in ("error", "interrupted") or it.error is None:
            return
        actions: list[tuple[str, Callable[[], object]]] = fix_buttons(Fix.coerce(it.error.fix), c)
        if self.view.is_last_answer(it):
            actions.append(("Retry", lambda: c.regenerate(it.mode)))
            other = c.other_model_for(it)
            if other is not None and it.error.kind != "content_filtered":
                actions.append((f"Answer with {other.model}", lambda: c.answer_with_other(it)))
        card = ErrorCard(it.error, notice=it.status == "interrupted", actions=actions)
        failed = {a.model for a in it.attempts if getattr(a, "error", None) is not None}
        if it.status == "error" and len(failed) >= 2:  # every candidate failed: say so first
            card.title.setText(f"No model could answer (first problem: {error_title(it.error.kind).lower()})")
        self.card_box.addWidget(card)

    def _cut_card(self, it: MessageItem) -> ErrorCard:
        """An answer cut at its length limit: kept, and a button that asks for the rest."""
        notice = it.notice
        ref = it.model
        info = ErrorInfo("truncated", notice.message, notice.fix, provider=ref.provider if ref else None,
                         model=ref.model if ref else None)
        c = self.view.controller
        actions: list[tuple[str, Callable[[], object]]] = []
        if self.view.is_last_answer(it):
            actions.append(("Continue", lambda: c.send("continue", it.mode)))
        card = ErrorCard(info, notice=True, actions=actions)
        card.title.setText("The answer was cut off" + (f" — {ref}" if ref else ""))
        return card

    # --- actions --------------------------------------------------------------------
    def _on_link(self, href: str) -> None:
        if href == "why":
            self.details.setVisible(not self.details.isVisible())
            self.meta.setText(self._meta_html())

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.item.text)
        self.view.controller.notice.emit("Answer copied.")

    def _feedback(self, value: int) -> None:
        self.view.controller.feedback(self.item, value if self.item.feedback != value else 0)


class ChatView(QScrollArea):
    """A column of messages over ``controller.session``."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.session: ChatSession = controller.session
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = QWidget()
        self._inner.setObjectName("chatInner")
        self._lay = QVBoxLayout(self._inner)
        self._lay.setContentsMargins(16, 12, 16, 12)
        self._lay.setSpacing(10)
        self.earlier_btn = QPushButton()
        self.earlier_btn.clicked.connect(self.show_earlier)
        self._lay.addWidget(self.earlier_btn, 0, Qt.AlignmentFlag.AlignHCenter)
        self._lay.addStretch(1)
        self.setWidget(self._inner)
        self.empty_label = QLabel("Ask anything. RouteDesk picks the model.\n"
                                  "Enter sends · Shift+Enter new line · Esc stops")
        self.empty_label.setObjectName("muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._lay.insertWidget(1, self.empty_label)
        self._widgets: dict[int, QWidget] = {}  # id(item) -> widget
        self._first = 0  # index of the first rendered item
        self._stick = True
        self.verticalScrollBar().rangeChanged.connect(self._on_range)
        self.verticalScrollBar().valueChanged.connect(self._on_scroll)
        self.session.reset.connect(self.rebuild)
        self.session.added.connect(self._on_added)
        self.session.prepended.connect(self._on_prepended)
        self.session.changed.connect(self._on_changed)
        self.session.delta.connect(self._on_delta)
        self.rebuild()

    # --- building ---------------------------------------------------------------------
    def _make(self, item: MessageItem) -> QWidget:
        if item.role == "user":
            w = QWidget()
            row = QHBoxLayout(w)
            row.setContentsMargins(0, 0, 0, 0)
            row.addStretch(1)
            bubble = UserBubble(item)
            bubble.fit(self._bubble_limit())
            row.addWidget(bubble)
            w.bubble = bubble
            return w
        return AnswerWidget(item, self)

    def rebuild(self) -> None:
        self.setUpdatesEnabled(False)
        try:
            for w in self._widgets.values():
                self._lay.removeWidget(w)
                w.deleteLater()
            self._widgets.clear()
            items = self.session.items
            self._first = max(0, len(items) - PAGE)
            for item in items[self._first:]:
                w = self._make(item)
                self._widgets[id(item)] = w
                self._lay.insertWidget(self._lay.count() - 1, w)
            self._update_earlier()
            self._stick = True
        finally:
            self.setUpdatesEnabled(True)
        self.empty_label.setVisible(not items)
        self._refresh_last_answers()
        QTimer.singleShot(0, self.scroll_to_bottom)

    def _on_prepended(self, n: int) -> None:
        self._first += n  # the rendered widgets moved down by n items

    def show_earlier(self) -> None:
        if self._first < PAGE and self.session.more_before:
            self.controller.load_earlier()
        items = self.session.items
        new_first = max(0, self._first - PAGE)
        bar = self.verticalScrollBar()
        old_max, old_val = bar.maximum(), bar.value()
        self._stick = False
        self.setUpdatesEnabled(False)
        for pos, item in enumerate(items[new_first:self._first]):
            w = self._make(item)
            self._widgets[id(item)] = w
            self._lay.insertWidget(1 + pos, w)
        self._first = new_first
        self._update_earlier()
        self.setUpdatesEnabled(True)
        self._inner.adjustSize()
        QTimer.singleShot(0, self, lambda: bar.setValue(old_val + bar.maximum() - old_max))

    def ensure_visible_message(self, message_id: int) -> QWidget | None:
        """Render back far enough to show ``message_id`` and scroll to it."""
        idx = next((i for i, it in enumerate(self.session.items) if it.id == message_id), None)
        while idx is None and self.session.more_before:
            self.controller.load_earlier()
            idx = next((i for i, it in enumerate(self.session.items) if it.id == message_id), None)
        if idx is None:
            return None
        while self._first > idx:
            self.show_earlier()
        w = self._widgets.get(id(self.session.items[idx]))
        if w is not None:
            self._stick = False
            QTimer.singleShot(30, self, lambda: self.ensureWidgetVisible(w, 0, 40))
        return w

    def _update_earlier(self) -> None:
        more = self.session.more_before
        self.earlier_btn.setVisible(self._first > 0 or more)
        count = f"{self._first}{'+' if more else ''} more" if self._first else "more"
        self.earlier_btn.setText(f"Show earlier messages ({count})")

    def _on_added(self, item: MessageItem) -> None:
        self.empty_label.hide()
        w = self._make(item)
        self._widgets[id(item)] = w
        self._lay.insertWidget(self._lay.count() - 1, w)
        self._stick = True
        self._refresh_last_answers()

    def _on_changed(self, item: MessageItem) -> None:
        w = self._widgets.get(id(item))
        if isinstance(w, AnswerWidget):
            w.refresh()
        self._refresh_last_answers(skip=item)

    def _on_delta(self, item: MessageItem) -> None:
        w = self._widgets.get(id(item))
        if isinstance(w, AnswerWidget):
            w.on_delta()

    def _refresh_last_answers(self, skip: MessageItem | None = None) -> None:
        """Only the last answer offers Regenerate; refresh the previous last one."""
        answers = [it for it in self.session.items[-6:] if it.role == "assistant"]
        for it in answers[-2:]:
            if it is skip:
                continue
            w = self._widgets.get(id(it))
            if isinstance(w, AnswerWidget):
                w.refresh()

    # --- queries used by children and tests ---------------------------------------------
    def is_last_answer(self, item: MessageItem) -> bool:
        for it in reversed(self.session.items):
            if it.role == "assistant":
                return it is item
        return False

    def widget_for(self, item: MessageItem) -> QWidget | None:
        return self._widgets.get(id(item))

    def answer_widgets(self) -> list[AnswerWidget]:
        return [w for it in self.session.items if isinstance(w := self._widgets.get(id(it)), AnswerWidget)]

    def rendered_count(self) -> int:
        return len(self._widgets)

    # --- scrolling -------------------------------------------------------------------
    def _on_scroll(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick = value >= bar.maximum() - 8

    def _on_range(self, _min: int, _max: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(_max)

    def stick_to_bottom(self) -> None:
        if self._stick:
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())

    def scroll_to_bottom(self) -> None:
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        limit = self._bubble_limit()
        for w in self._widgets.values():
            bubble = getattr(w, "bubble", None)
            if bubble is not None:
                bubble.fit(limit)

    def _bubble_limit(self) -> int:
        return max(self.fontMetrics().horizontalAdvance("M") * 20, int(self.viewport().width() * 0.8))
