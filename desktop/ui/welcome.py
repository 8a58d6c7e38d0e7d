"""First run: say what was found (Ollama and its models, keys in the environment)
and offer the next step (add a key, import one, or pull a small local model)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import RouteDeskError
from desktop.core.types import ModelRef
from desktop.ui.health import SMALL_MODEL, StatusDot
from desktop.ui.models import PullProgress

__all__ = ["WelcomeScreen"]


class WelcomeScreen(QScrollArea):
    done = Signal()  # the user is set up (or skipped)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        outer = QWidget()
        olay = QVBoxLayout(outer)
        olay.addStretch(1)
        card = QFrame()
        card.setObjectName("welcomeCard")
        card.setMaximumWidth(card.fontMetrics().horizontalAdvance("M") * 48)
        lay = QVBoxLayout(card)
        lay.setContentsMargins(24, 20, 24, 20)
        lay.setSpacing(10)
        title = QLabel("Welcome to RouteDesk")
        title.setObjectName("welcomeTitle")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.6)
        f.setBold(True)
        title.setFont(f)
        lay.addWidget(title)
        intro = QLabel(
            "RouteDesk sends each message to the cheapest model that will answer it well: a strong "
            "(paid) model for hard questions, a weak (cheap or local) one for the rest."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        found = QLabel("What I found on this computer")
        found.setObjectName("sectionTitle")
        lay.addWidget(found)

        orow = QHBoxLayout()
        self.ollama_dot = StatusDot("checking")
        self.ollama_label = QLabel("Looking for Ollama…")
        self.ollama_label.setWordWrap(True)
        self.ollama_label.setTextFormat(Qt.TextFormat.RichText)
        orow.addWidget(self.ollama_dot, 0, Qt.AlignmentFlag.AlignTop)
        orow.addWidget(self.ollama_label, 1)
        lay.addLayout(orow)

        self.env_box = QVBoxLayout()
        lay.addLayout(self.env_box)

        nxt = QLabel("Next step")
        nxt.setObjectName("sectionTitle")
        lay.addWidget(nxt)
        self.steps = QVBoxLayout()
        lay.addLayout(self.steps)
        self.use_local_btn = QPushButton()
        self.use_local_btn.clicked.connect(self._use_local)
        self.pull_btn = QPushButton(f"Pull a small local model ({SMALL_MODEL}, about 1.3 GB)")
        self.pull_btn.clicked.connect(self._pull)
        self.add_key_btn = QPushButton("Add an API key (OpenAI, Anthropic, OpenRouter…)")
        self.add_key_btn.clicked.connect(lambda: controller.settings_requested.emit(""))
        for b in (self.use_local_btn, self.pull_btn, self.add_key_btn):
            self.steps.addWidget(b)
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        skip = QPushButton("Skip for now")
        skip.setFlat(True)
        skip.clicked.connect(self.done.emit)
        lay.addWidget(skip, 0, Qt.AlignmentFlag.AlignRight)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 10)
        row.addStretch(1)
        olay.addLayout(row)
        olay.addStretch(2)
        self.setWidget(outer)
        self._local_models: list[str] = []
        controller.health.changed.connect(self._from_health)
        controller.health.pull_progress.connect(self._on_pull)
        self._checked = False

    # --- state -------------------------------------------------------------------------
    def refresh(self) -> None:
        self._render_env()
        self._from_health()
        if not self._checked and not self.controller.health.checking:
            self._checked = True
            self.controller.spawn(self.controller.check_health())

    def _render_env(self) -> None:
        while self.env_box.count():
            item = self.env_box.takeAt(0)
            w = item.widget() or None
            if w is not None:
                w.deleteLater()
            elif item.layout() is not None:
                lay = item.layout()
                while lay.count():
                    ww = lay.takeAt(0).widget()
                    if ww is not None:
                        ww.deleteLater()
        env = self.controller.env_keys()
        if not env:
            lab = QLabel("No API keys in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY).")
            lab.setWordWrap(True)
            lab.setObjectName("muted")
            self.env_box.addWidget(lab)
            return
        existing = {p.name for p in self.controller.providers()}
        for kind, var in env.items():
            w = QWidget()
            row = QHBoxLayout(w)
            row.setContentsMargins(0, 0, 0, 0)
            dot = StatusDot("ok" if kind in existing else "unknown")
            lab = QLabel(f"<b>{var}</b> is set. RouteDesk won't use it unless you import it into the keyring.")
            lab.setWordWrap(True)
            row.addWidget(dot, 0, Qt.AlignmentFlag.AlignTop)
            row.addWidget(lab, 1)
            if kind in existing:
                row.addWidget(QLabel("Imported"))
            else:
                b = QPushButton("Import into keyring")
                b.setObjectName(f"import_{kind}")
                b.clicked.connect(lambda _=False, k=kind: self._import(k))
                row.addWidget(b)
            self.env_box.addWidget(w)

    def _from_health(self) -> None:
        h = self.controller.health.providers.get("ollama")
        if h is None:
            self.ollama_dot.set_status("checking" if self.controller.health.checking else "unknown")
            self.ollama_label.setText("Looking for Ollama…")
            self._local_models = []
        elif h.status == "ok":
            self._local_models = list(h.models)
            self.ollama_dot.set_status("ok")
            if h.models:
                shown = ", ".join(html.escape(m) for m in h.models[:6]) + (" …" if len(h.models) > 6 else "")
                self.ollama_label.setText(f"<b>Ollama</b> is running with {len(h.models)} model"
                                          f"{'s' if len(h.models) != 1 else ''}: {shown}")
            else:
                self.ollama_label.setText("<b>Ollama</b> is running but has no models yet.")
        else:
            self._local_models = []
            self.ollama_dot.set_status("down")
            self.ollama_label.setText(
                "<b>Ollama</b> isn't running (or isn't installed). Start it with <code>ollama serve</code> or open the "
                "Ollama app; get it from ollama.com. You can also use a cloud provider with a key."
            )
        if self._local_models:
            first = self._pick_small(self._local_models)
            self.use_local_btn.setText(f"Start chatting with {first} (runs on this computer, free)")
            self.use_local_btn.setProperty("model", first)
            self.use_local_btn.show()
        else:
            self.use_local_btn.hide()
        self.pull_btn.setVisible(bool(h is not None and h.status == "ok"))

    @staticmethod
    def _pick_small(models: list[str]) -> str:
        for hint in ("1b", "0.5b", "mini", "3b", "small"):
            for m in models:
                if hint in m:
                    return m
        return models[0]

    # --- actions -------------------------------------------------------------------------
    def _use_local(self) -> None:
        model = self.use_local_btn.property("model")
        if not model:
            return
        r = self.controller.routing
        self.controller.set_pair(r.strong, ModelRef("ollama", model))
        self.controller.cache_models("ollama", self._local_models)
        self.controller.notice.emit(f"Weak model set to ollama/{model}. Add a key in Settings for a strong model.")
        self.done.emit()

    def _import(self, kind: str) -> None:
        try:
            name = self.controller.import_env_key(kind)
        except RouteDeskError as err:
            self.status.setText(f"{err.message} {err.fix}")
            return
        self.status.setText(f"Imported the key into the keyring as provider “{name}”. "
                            "Open Settings to pick the strong and weak models.")
        self._render_env()
        self.controller.settings_requested.emit(name)

    def _pull(self) -> None:
        self.pull_btn.setEnabled(False)
        self.progress.show()
        self.progress.setRange(0, 0)
        self.status.setText(f"Pulling {SMALL_MODEL}…")
        self.controller.spawn(self.controller.pull_model(SMALL_MODEL))

    def _on_pull(self, p: PullProgress) -> None:
        if not self.isVisible():
            return
        if p.done:
            self.pull_btn.setEnabled(True)
            self.progress.hide()
            self.status.setText(p.error or f"{SMALL_MODEL} is ready.")
            return
        if p.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(p.fraction * 100))
        self.status.setText(p.status)
