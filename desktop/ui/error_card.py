"""How the window shows an error: a card titled by its kind, the plain message, the
server's own words beside it (a muted, selectable "OpenAI said: ..." line: a proxy often
knows better which key or upstream failed), the fix in the window's words, and buttons that
do the fix (open settings for the provider, pull the model, check again, ...). The fix is
the engine's ``Fix`` value; nothing here reads a sentence back.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from desktop.core.errors import ErrorKind
from desktop.core.fixes import Fix, FixAction
from desktop.engine.explain import said

__all__ = ["ErrorCard", "error_title", "fix_buttons", "KIND_TITLES", "OPEN_SETTINGS"]

#: A card's title, from the error's kind alone.
KIND_TITLES: dict[ErrorKind, str] = {
    ErrorKind.AUTH_INVALID: "The key was rejected",
    ErrorKind.QUOTA_EXHAUSTED: "No credit left",
    ErrorKind.RATE_LIMITED: "Too many requests",
    ErrorKind.OVERLOADED: "The provider is overloaded",
    ErrorKind.SERVER_ERROR: "The provider had a server error",
    ErrorKind.MODEL_NOT_FOUND: "Model not found",
    ErrorKind.CONTEXT_TOO_LONG: "The conversation is too long for this model",
    ErrorKind.CONTENT_FILTERED: "The provider refused to answer",
    ErrorKind.UNREACHABLE: "Can't reach the provider",
    ErrorKind.TIMEOUT: "The provider took too long",
    ErrorKind.INTERRUPTED: "The answer stopped before it was finished",
    ErrorKind.BAD_RESPONSE: "The provider's answer couldn't be read",
    ErrorKind.MISCONFIGURED: "Something needs setting up",
}

OPEN_SETTINGS = "Open settings"

#: Fixes the provider's page in Settings does: the button opens it at that provider.
_IN_SETTINGS = frozenset({
    FixAction.ADD_PROVIDER, FixAction.ADD_KEY, FixAction.OPEN_PROVIDER_SETTINGS, FixAction.SET_BASE_URL,
    FixAction.ADD_CREDIT, FixAction.PULL_MODEL, FixAction.CHOOSE_MODELS, FixAction.LOAD_LOCAL_MODEL,
    FixAction.SHORTEN_CONVERSATION, FixAction.RAISE_TIMEOUT,
})
#: Fixes the user does outside RouteDesk, after which checking again shows whether it worked.
_CHECK_AGAIN = frozenset({FixAction.START_OLLAMA, FixAction.START_LOCAL_SERVER, FixAction.CHECK_NETWORK})


def error_title(kind: str) -> str:
    try:
        return KIND_TITLES[ErrorKind(kind)]
    except ValueError:
        return "Something went wrong"


def fix_buttons(fix: Fix, controller: Any, *,
                open_url: Callable[[str], object] | None = None) -> list[tuple[str, Callable[[], object]]]:
    """(label, action) per button that performs ``fix``; ``open_url`` opens a web page
    (the system browser unless given)."""
    if not fix:
        return []
    opener = open_url or (lambda url: QDesktopServices.openUrl(QUrl(url)))
    provider = "" if fix.get("why") == "no_pair" else fix.get("provider")
    out: list[tuple[str, Callable[[], object]]] = []
    if fix.action is FixAction.PULL_MODEL and fix.get("model"):
        model = fix.get("model")
        out.append((f"Pull {model}", lambda: controller.spawn(controller.pull_model(model))))
    if fix.action is FixAction.ADD_CREDIT and fix.get("url"):
        url = fix.get("url")
        out.append(("Add credit", lambda: opener(url)))
    if fix.action is FixAction.SHORTEN_CONVERSATION:
        out.append(("New conversation", controller.new_conversation))
    if fix.action in _CHECK_AGAIN:
        out.append(("Check again", lambda: controller.spawn(controller.check_health())))
    if fix.action in _IN_SETTINGS or fix.get("check_base_url"):
        out.append((OPEN_SETTINGS, lambda: controller.settings_requested.emit(provider)))
    return out


class ErrorCard(QFrame):
    """Plain-language message, the fix, and buttons that do it (``actions``: label, slot)."""

    def __init__(self, info: Any, *, notice: bool = False,
                 actions: Sequence[tuple[str, Callable[..., object]]] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeCard" if notice else "errorCard")
        self.info = info
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(4)
        if info.provider and info.model:
            who = f" — {info.provider}/{info.model}"
        else:
            who = f" — {info.provider}" if info.provider else ""
        self.title = QLabel(error_title(info.kind) + who)
        self.title.setObjectName("cardTitle")
        self.title.setWordWrap(True)
        self.message = QLabel(info.message)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.title)
        lay.addWidget(self.message)
        self.detail: QLabel | None = None
        words = said(info) if hasattr(info, "detail") else ""
        if words:
            self.detail = QLabel(words)
            self.detail.setObjectName("muted")
            self.detail.setWordWrap(True)
            self.detail.setTextFormat(Qt.TextFormat.PlainText)  # a server's words are never markup
            self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lay.addWidget(self.detail)
        self.fix: QLabel | None = None
        words = Fix.coerce(info.fix).text
        if words:
            self.fix = QLabel("<b>What to do:</b> " + html.escape(words))
            self.fix.setWordWrap(True)
            self.fix.setTextFormat(Qt.TextFormat.RichText)
            self.fix.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lay.addWidget(self.fix)
        self.buttons: dict[str, QPushButton] = {}
        if actions:
            row = QHBoxLayout()
            row.setSpacing(6)
            for label, slot in actions:
                if label in self.buttons:
                    continue
                b = QPushButton(label)
                b.clicked.connect(lambda _=False, s=slot: s())
                row.addWidget(b)
                self.buttons[label] = b
            row.addStretch(1)
            lay.addLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
