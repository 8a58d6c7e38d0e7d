"""Provider health: a dot per provider in the status bar (explanation and fix on hover,
details on click), and a panel with "Check now", local models and "Pull a model".

Both views read ``controller.health`` (a ``HealthModel``), which the controller fills from
the engine's probes (``engine.probes``: the background monitor, or one round on "Check
now"); "Pull" runs the engine's pull (``engine.pulls``), as ``routedesk pull`` does.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.fixes import Fix
from desktop.ui.error_card import fix_buttons
from desktop.ui.models import HealthModel, ProviderHealth, PullProgress
from desktop.ui.theme import status_color

__all__ = ["StatusDot", "HealthIndicator", "HealthPanel", "HealthDialog", "SMALL_MODEL", "health_tooltip"]

SMALL_MODEL = "llama3.2:1b"
_WORDS = {"ok": "working", "degraded": "slow or partly failing", "down": "not working", "unknown": "not checked yet",
          "checking": "checking…"}


def health_tooltip(h: ProviderHealth) -> str:
    kind = f" ({html.escape(h.kind)})" if h.kind and h.kind != h.name else ""
    lines = [f"<b>{html.escape(h.name)}</b>{kind}: {_WORDS.get(h.status, h.status)}"]
    if h.explanation:
        lines.append(html.escape(h.explanation))
    elif h.summary:
        lines.append(html.escape(h.summary))
    words = Fix.coerce(h.fix).text
    if words:
        lines.append("<b>Fix:</b> " + html.escape(words))
    if h.checked_at is not None:
        lines.append(f"<span style='color:gray'>Checked at {h.checked_at:%H:%M:%S}</span>")
    return "<br>".join(lines)


class StatusDot(QWidget):
    def __init__(self, status: str = "unknown", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        d = self.fontMetrics().height() * 2 // 3
        self.setFixedSize(QSize(d, d))

    def set_status(self, status: str) -> None:
        self.status = status
        self.update()

    def paintEvent(self, _e) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = status_color(self.status, self.palette())
        p.setPen(c.darker(130))
        p.setBrush(c)
        r = self.rect().adjusted(1, 1, -1, -1)
        p.drawEllipse(r)


class HealthIndicator(QFrame):
    """Status-bar strip: one dot and name per provider; click opens the panel."""

    clicked = Signal()

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: HealthModel = controller.health
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(4, 0, 4, 0)
        self._lay.setSpacing(6)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.model.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        while self._lay.count():
            w = self._lay.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        if not self.model.providers:
            lab = QLabel("Health: not checked")
            lab.setObjectName("muted")
            self._lay.addWidget(lab)
            self.setToolTip("Click to check your providers")
            return
        tips = []
        for h in self.model.providers.values():
            dot = StatusDot(h.status)
            dot.setToolTip(health_tooltip(h))
            lab = QLabel(h.name)
            lab.setToolTip(health_tooltip(h))
            self._lay.addWidget(dot)
            self._lay.addWidget(lab)
            tips.append(health_tooltip(h))
        self.setToolTip("<br><br>".join(tips))

    def mousePressEvent(self, e) -> None:  # noqa: N802
        self.clicked.emit()
        super().mousePressEvent(e)


class ProviderRow(QFrame):
    """One provider: its dot, what is known, and buttons that do its fix."""

    def __init__(self, h: ProviderHealth, controller=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        lay = QHBoxLayout()
        outer.addLayout(lay)
        lay.setContentsMargins(0, 2, 0, 2)
        self.dot = StatusDot(h.status)
        lay.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignTop)
        text = QLabel()
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setText(health_tooltip(h))
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(text, 1)
        self.buttons: dict[str, QPushButton] = {}
        actions = fix_buttons(Fix.coerce(h.fix), controller) if controller is not None else []
        if actions:
            row = QHBoxLayout()
            row.addSpacing(self.dot.width() + lay.spacing())
            for label, slot in actions:
                b = QPushButton(label)
                b.clicked.connect(lambda _=False, s=slot: s())
                row.addWidget(b)
                self.buttons[label] = b
            row.addStretch(1)
            outer.addLayout(row)


class HealthPanel(QWidget):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model: HealthModel = controller.health
        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        t = QLabel("Providers")
        t.setObjectName("sectionTitle")
        head.addWidget(t)
        head.addStretch(1)
        self.check_btn = QPushButton("Check now")
        self.check_btn.clicked.connect(lambda: controller.spawn(controller.check_health()))
        head.addWidget(self.check_btn)
        lay.addLayout(head)
        self.rows = QVBoxLayout()
        lay.addLayout(self.rows)
        t2 = QLabel("Models on this computer (Ollama)")
        t2.setObjectName("sectionTitle")
        lay.addWidget(t2)
        self.local_list = QListWidget()
        self.local_list.setMaximumHeight(self.fontMetrics().lineSpacing() * 7)
        lay.addWidget(self.local_list)
        pull = QHBoxLayout()
        self.pull_name = QLineEdit(SMALL_MODEL)
        self.pull_name.setToolTip("A model name from ollama.com/library, e.g. llama3.2:1b or qwen2.5:0.5b")
        self.pull_btn = QPushButton("Pull a model")
        self.pull_btn.clicked.connect(self.pull)
        pull.addWidget(self.pull_name, 1)
        pull.addWidget(self.pull_btn)
        lay.addLayout(pull)
        self.progress = QProgressBar()
        self.progress.hide()
        self.pull_status = QLabel()
        self.pull_status.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addWidget(self.pull_status)
        lay.addStretch(1)
        self.model.changed.connect(self.refresh)
        self.model.pull_progress.connect(self.on_progress)
        self.refresh()

    def refresh(self) -> None:
        while self.rows.count():
            w = self.rows.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        if not self.model.providers:
            lab = QLabel("Not checked yet. Press “Check now”.")
            lab.setObjectName("muted")
            self.rows.addWidget(lab)
        for h in self.model.providers.values():
            self.rows.addWidget(ProviderRow(h, self.controller))
        self.check_btn.setEnabled(not self.model.checking)
        self.check_btn.setText("Checking…" if self.model.checking else "Check now")
        self.local_list.clear()
        if self.model.local_models:
            self.local_list.addItems(self.model.local_models)
        else:
            self.local_list.addItem("No local models found")

    def pull(self) -> None:
        name = self.pull_name.text().strip()
        if not name:
            return
        self.pull_btn.setEnabled(False)
        self.progress.show()
        self.progress.setRange(0, 0)
        self.pull_status.setText(f"Pulling {name}…")
        self.controller.spawn(self.controller.pull_model(name))

    def on_progress(self, p: PullProgress) -> None:
        if p.done:
            self.pull_btn.setEnabled(True)
            self.progress.setRange(0, 100)
            self.progress.setValue(100 if p.error is None else 0)
            self.pull_status.setText(p.error or "Done: the model is ready.")
            return
        frac = p.fraction
        if frac is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(frac * 100))
        mb = f" — {(p.completed or 0) / 1e6:.0f} of {p.total / 1e6:.0f} MB" if p.total else ""
        self.pull_status.setText(f"{p.status}{mb}")


class HealthDialog(QDialog):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("RouteDesk — Health")
        lay = QVBoxLayout(self)
        self.panel = HealthPanel(controller)
        lay.addWidget(self.panel)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.close)
        lay.addWidget(bb)
        fm = self.fontMetrics()
        self.resize(fm.horizontalAdvance("M") * 45, fm.lineSpacing() * 28)
