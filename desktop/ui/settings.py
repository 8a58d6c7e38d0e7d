"""Provider settings: presets, a masked key saved to the OS keyring, "Test connection"
in plain words, the models to pick strong and weak from, and the pricing table
(an edit is an override the very next message uses)."""

from __future__ import annotations

import html
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import RouteDeskError
from desktop.core.types import ModelRef
from desktop.providers import PRESETS, Timeouts
from desktop.ui.theme import icon

__all__ = ["SettingsDialog", "ProviderForm", "PriceTable", "PAIR_NONE", "MAIN_KINDS"]

PAIR_NONE = "— not set —"
#: presets offered first (the issue's list); the others follow in the menu.
MAIN_KINDS = ["openai", "anthropic", "openrouter", "ollama", "lmstudio", "openai-compatible"]
_SOURCE_WORDS = {"bundled": "bundled", "override": "your override", "local": "free / local", "unknown": "unknown"}


def _kinds() -> list[str]:
    return MAIN_KINDS + [k for k in PRESETS if k not in MAIN_KINDS]


class PriceTable(QTableWidget):
    """Model | input $/M | output $/M | source. Editing a price stores an override."""

    COLS = ("Model", "Input $/M tokens", "Output $/M tokens", "Source")

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLS), parent)
        self.controller = controller
        self.setHorizontalHeaderLabels(self.COLS)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            self.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemChanged.connect(self._edited)
        self._filling = False
        self.refs: list[ModelRef] = []
        self.error = QLabel()

    def fill(self, name: str, kind: str, models: list[str]) -> None:
        self._filling = True
        try:
            rows = self.controller.price_rows(name, kind, models) if kind in PRESETS else []
            self.setRowCount(len(rows))
            self.refs = []
            for r, (ref, price) in enumerate(rows):
                self.refs.append(ref)
                r_state = self.controller.routing
                side = " — strong" if ref == r_state.strong else " — weak" if ref == r_state.weak else ""
                it = QTableWidgetItem(ref.model + side)
                it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.setItem(r, 0, it)
                for c, v in ((1, price.input_per_mtok), (2, price.output_per_mtok)):
                    cell = QTableWidgetItem("" if v is None else _fmt_price(v))
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    cell.setToolTip("Double-click to set your own price; the next message uses it")
                    self.setItem(r, c, cell)
                src = QTableWidgetItem(_SOURCE_WORDS.get(price.source, price.source))
                src.setFlags(src.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.setItem(r, 3, src)
        finally:
            self._filling = False

    def _edited(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() not in (1, 2):
            return
        r = item.row()
        inp = self.item(r, 1).text().strip() or "0"
        out = self.item(r, 2).text().strip() or "0"
        if not self.controller.set_price(self.refs[r], inp, out):  # checked by the engine
            self.error.setText("A price is a number of US dollars per million tokens, like 2.50.")
            return
        self.error.setText("")
        self._filling = True
        try:
            self.item(r, 3).setText(_SOURCE_WORDS["override"])
        finally:
            self._filling = False

    def _menu(self, pos) -> None:
        idx = self.indexAt(pos)
        if not idx.isValid():
            return
        ref = self.refs[idx.row()]
        menu = QMenu(self)
        a = QAction(f"Use the bundled price for {ref.model}", menu)
        a.triggered.connect(lambda: self._reset(ref))
        menu.addAction(a)
        menu.exec(self.viewport().mapToGlobal(pos))

    def _reset(self, ref: ModelRef) -> None:
        self.controller.clear_price(ref)
        self.parent_form_refill()

    def parent_form_refill(self) -> None:  # replaced by the form
        pass


def _fmt_price(v: Decimal) -> str:
    s = format(v.normalize(), "f") if isinstance(v, Decimal) else str(v)
    return s


def _timeout_box() -> QSpinBox:
    """Seconds allowed to the first word of an answer and between words (0: the default),
    the same setting as ``routedesk providers add NAME --timeout SECONDS``."""
    box = QSpinBox()
    box.setObjectName("timeoutField")
    box.setRange(0, 3600)
    box.setSingleStep(30)
    box.setSuffix(" s")
    box.setSpecialValueText("default")
    box.setAccelerated(True)
    box.setToolTip("How long to wait for the first word of an answer, and between words, before giving up. "
                   "Raise it for a slow server or a large local model. Same as: routedesk providers add NAME "
                   "--timeout SECONDS")
    return box


class ProviderForm(QWidget):
    saved = Signal(str)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.original: str | None = None
        self.models: list[str] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 0, 0, 0)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.kind = QComboBox()
        for k in _kinds():
            self.kind.addItem(PRESETS[k].display_name, k)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.name = QLineEdit()
        self.name.setPlaceholderText("a short name, e.g. openai or work")
        self.base_url = QLineEdit()
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setObjectName("keyField")
        self.show_key = self.key.addAction(icon("eye"), QLineEdit.ActionPosition.TrailingPosition)
        self.show_key.setToolTip("Show or hide the key")
        self.show_key.triggered.connect(self._toggle_key)
        self.key_help = QLabel()
        self.key_help.setOpenExternalLinks(True)
        self.key_help.setWordWrap(True)
        self.key_help.setObjectName("muted")
        form.addRow("Provider", self.kind)
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.base_url)
        form.addRow("API key", self.key)
        form.addRow(self.key_help)
        self.timeout = _timeout_box()
        self.timeout_help = QLabel()
        self.timeout_help.setObjectName("muted")
        self.timeout_help.setWordWrap(True)
        trow = QHBoxLayout()
        trow.addWidget(self.timeout)
        trow.addWidget(self.timeout_help, 1)
        form.addRow("Timeout", trow)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.test_btn = QPushButton("Test connection")
        self.test_btn.clicked.connect(self.test)
        self.save_btn = QPushButton("Save")
        self.save_btn.setDefault(True)
        self.save_btn.clicked.connect(self.save)
        row.addWidget(self.test_btn)
        row.addWidget(self.save_btn)
        row.addStretch(1)
        lay.addLayout(row)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.result)

        mt = QLabel("Models and prices")
        mt.setObjectName("sectionTitle")
        lay.addWidget(mt)
        hint = QLabel("Pick a model, then make it the strong or weak one. Double-click a price to override it.")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self.prices = PriceTable(controller)
        self.prices.parent_form_refill = self._fill_prices  # type: ignore[method-assign]
        lay.addWidget(self.prices, 1)
        lay.addWidget(self.prices.error)
        prow = QHBoxLayout()
        self.strong_btn = QPushButton("Use as strong")
        self.weak_btn = QPushButton("Use as weak")
        self.strong_btn.clicked.connect(lambda: self._use("strong"))
        self.weak_btn.clicked.connect(lambda: self._use("weak"))
        prow.addWidget(self.strong_btn)
        prow.addWidget(self.weak_btn)
        prow.addStretch(1)
        lay.addLayout(prow)
        self._kind_changed()

    # --- loading ---------------------------------------------------------------------
    def load(self, name: str | None, kind: str | None = None) -> None:
        self.original = name
        self.result.clear()
        self.key.clear()
        rec = self.controller.get_provider(name) if name else None
        if rec is not None:
            self.kind.setCurrentIndex(max(0, self.kind.findData(rec.kind)))
            self.name.setText(rec.name)
            self.base_url.setText(rec.base_url or "")
            self.timeout.setValue(round(rec.timeout_s or 0))
            try:
                has_key = self.controller.stored_key(rec.name) is not None
                self.key.setPlaceholderText("•••••••• saved in the keyring (type to replace)" if has_key
                                            else "no key saved")
            except RouteDeskError as err:
                self.key.setPlaceholderText("keyring unavailable")
                self.result.setText(f"{err.message} {err.fix}")
        else:
            k = kind or "openai"
            self.kind.setCurrentIndex(max(0, self.kind.findData(k)))
            taken = {p.name for p in self.controller.providers()}
            base = k if k != "openai-compatible" else "custom"
            n, i = base, 2
            while n in taken:
                n, i = f"{base}{i}", i + 1
            self.name.setText(n)
            self.base_url.clear()
            self.timeout.setValue(0)
            self.key.setPlaceholderText("paste your key")
        self.models = list(self.controller.cached_models(self.name.text()))
        self._kind_changed()
        self._fill_prices()

    def _kind_changed(self, *_a) -> None:
        k = self.kind.currentData()
        p = PRESETS.get(k)
        if p is None:
            return
        self.base_url.setPlaceholderText(p.base_url or "http://127.0.0.1:8000/v1 (required)")
        self.key.setEnabled(p.needs_key or not p.local)
        read = Timeouts().read
        first = max(p.first_token_s or read, read)
        self.timeout_help.setText(f"default: {first:g} s to the first word and between words" if first == read else
                                  f"default: {first:g} s to the first word, then {read:g} s between words")
        # a local server loads the model on the first request: say why its first wait is longer
        self.timeout_help.setToolTip("A local server loads the model on the first request, which can take minutes."
                                     if first != read else "")
        bits = []
        if p.keys_url:
            bits.append(f"Get a key at <a href='{p.keys_url}'>{html.escape(p.keys_url)}</a>.")
        if p.local:
            bits.append("Runs on this computer: no key, no cost.")
        bits.append("Keys are kept in the system keyring, never in a file.")
        self.key_help.setText(" ".join(bits))

    def _fill_prices(self) -> None:
        self.prices.fill(self.name.text().strip(), self.kind.currentData(), self.models)
        has = bool(self.models)
        self.strong_btn.setEnabled(has)
        self.weak_btn.setEnabled(has)

    def _toggle_key(self) -> None:
        normal = self.key.echoMode() == QLineEdit.EchoMode.Normal
        self.key.setEchoMode(QLineEdit.EchoMode.Password if normal else QLineEdit.EchoMode.Normal)

    # --- actions ---------------------------------------------------------------------
    def _key_for_test(self) -> str | None:
        typed = self.key.text().strip()
        if typed:
            return typed
        if self.original:
            try:
                return self.controller.stored_key(self.original)
            except RouteDeskError:
                return None
        return None

    def test(self) -> None:
        self.test_btn.setEnabled(False)
        self.result.setText("Testing…")
        self.controller.spawn(self._test())

    async def _test(self) -> None:
        name = self.name.text().strip() or "test"
        check = await self.controller.test_connection(
            name, self.kind.currentData(), self.base_url.text().strip() or None, self._key_for_test()
        )
        self.test_btn.setEnabled(True)
        mark = "✔" if check.ok else "✘"
        self.result.setText(f"{mark} {check.sentence}")
        self.result.setProperty("ok", check.ok)
        if check.ok:
            self.models = list(check.models)
            self._fill_prices()

    def save(self) -> bool:
        name = self.name.text().strip()
        if not name or "/" in name:
            self.result.setText("✘ Give the provider a short name without “/”, like openai or work.")
            return False
        try:
            self.controller.save_provider(name, self.kind.currentData(), self.base_url.text().strip() or None,
                                          self.key.text().strip() or None, original=self.original,
                                          timeout_s=float(self.timeout.value()) or None)
        except RouteDeskError as err:
            self.result.setText(f"✘ {err.message} {err.fix}")
            return False
        self.original = name
        self.key.clear()
        self.key.setPlaceholderText("•••••••• saved in the keyring (type to replace)")
        hint = "" if self.models else " Press “Test connection” to list its models."
        self.result.setText(f"✔ Saved {name}.{hint}")
        if self.models:
            self.controller.cache_models(name, self.models)
        self.saved.emit(name)
        return True

    def _use(self, side: str) -> None:
        row = self.prices.currentRow()
        if row < 0 or row >= len(self.prices.refs):
            self.result.setText("Pick a model in the table first.")
            return
        name = self.name.text().strip()
        if (self.original != name or self.controller.get_provider(name) is None) and not self.save():
            return
        ref = self.prices.refs[row]
        r = self.controller.routing
        if side == "strong":
            self.controller.set_pair(ref, r.weak)
        else:
            self.controller.set_pair(r.strong, ref)
        self._fill_prices()
        self.prices.selectRow(row)
        self.result.setText(f"✔ {ref} is now the {side} model.")


class SettingsDialog(QDialog):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("RouteDesk — Settings")
        lay = QVBoxLayout(self)
        self.env_banner = QFrame()
        self.env_banner.setObjectName("noticeCard")
        self.env_lay = QVBoxLayout(self.env_banner)
        lay.addWidget(self.env_banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        t = QLabel("Providers")
        t.setObjectName("sectionTitle")
        ll.addWidget(t)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._picked)
        ll.addWidget(self.list, 1)
        brow = QHBoxLayout()
        self.add_btn = QPushButton("Add…")
        menu = QMenu(self.add_btn)
        for k in _kinds():
            a = menu.addAction(PRESETS[k].display_name)
            a.triggered.connect(lambda _=False, k=k: self.add(k))
        self.add_btn.setMenu(menu)
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.clicked.connect(self.remove)
        brow.addWidget(self.add_btn)
        brow.addWidget(self.remove_btn)
        ll.addLayout(brow)
        self.pair_label = QLabel()
        self.pair_label.setWordWrap(True)
        self.pair_label.setTextFormat(Qt.TextFormat.RichText)
        ll.addWidget(self.pair_label)
        split.addWidget(left)
        self.form = ProviderForm(controller)
        self.form.saved.connect(self._saved)
        split.addWidget(self.form)
        split.setStretchFactor(1, 1)
        from desktop.ui.endpoint_panel import EndpointPanel

        # two tabs: the provider form needs the dialog's full height, and the endpoint is
        # its own subject (other tools on this computer), not a property of a provider
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Providers")
        self.endpoint_panel = EndpointPanel(controller)  # Settings → Local endpoint
        self.tabs.addTab(self.endpoint_panel, "Local endpoint")
        lay.addWidget(self.tabs, 1)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(self.close)
        lay.addWidget(bb)
        fm = self.fontMetrics()
        self.resize(fm.horizontalAdvance("M") * 80, fm.lineSpacing() * 40)
        split.setSizes([fm.horizontalAdvance("M") * 20, fm.horizontalAdvance("M") * 60])
        controller.routing.changed.connect(self._pair_text)
        controller.providers_changed.connect(self._reload)
        self._reload()
        self._pair_text()

    def _reload(self, select: str | None = None) -> None:
        cur = select or (self.list.currentItem().data(Qt.ItemDataRole.UserRole) if self.list.currentItem() else None)
        self.list.blockSignals(True)
        self.list.clear()
        for p in self.controller.providers():
            it = QListWidgetItem(f"{p.name}  ({PRESETS[p.kind].display_name if p.kind in PRESETS else p.kind})")
            it.setData(Qt.ItemDataRole.UserRole, p.name)
            self.list.addItem(it)
        self.list.blockSignals(False)
        self._render_env()
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == cur:
                self.list.setCurrentRow(i)
                return
        if self.list.count() and self.form.original is not None:
            self.list.setCurrentRow(0)

    def _render_env(self) -> None:
        while self.env_lay.count():
            item = self.env_lay.takeAt(0)
            w = item.widget()
            if w is not None:
                w.deleteLater()
        existing = {p.name for p in self.controller.providers()}
        pending = {k: v for k, v in self.controller.env_keys().items() if k not in existing}
        self.env_banner.setVisible(bool(pending))
        for kind, var in pending.items():
            w = QWidget()
            row = QHBoxLayout(w)
            row.setContentsMargins(0, 0, 0, 0)
            lab = QLabel(f"<b>{var}</b> is set in your environment. RouteDesk doesn't use it unless you import it.")
            lab.setWordWrap(True)
            b = QPushButton(f"Import into keyring as “{kind}”")
            b.setObjectName(f"import_{kind}")
            b.clicked.connect(lambda _=False, k=kind: self._import(k))
            row.addWidget(lab, 1)
            row.addWidget(b)
            self.env_lay.addWidget(w)

    def _import(self, kind: str) -> None:
        try:
            name = self.controller.import_env_key(kind)
        except RouteDeskError as err:
            QMessageBox.warning(self, "Import failed", f"{err.message}\n\n{err.fix}")
            return
        self._reload(select=name)
        self.form.test()

    def _pair_text(self) -> None:
        r = self.controller.routing
        s = html.escape(str(r.strong)) if r.strong else "<i>not set</i>"
        w = html.escape(str(r.weak)) if r.weak else "<i>not set</i>"
        self.pair_label.setText(f"Strong: <b>{s}</b><br>Weak: <b>{w}</b>")

    def _picked(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is not None:
            self.form.load(item.data(Qt.ItemDataRole.UserRole))

    def _saved(self, name: str) -> None:
        self._reload(select=name)

    def add(self, kind: str) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.setCurrentItem(None)
        self.list.blockSignals(False)
        self.form.load(None, kind)
        self.form.name.setFocus()

    def remove(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        ok = QMessageBox.question(self, "Remove provider", f"Remove {name} and delete its key from the keyring?")
        if ok == QMessageBox.StandardButton.Yes:
            self.controller.remove_provider(name)
            self.form.load(None, "openai")

    def select_provider(self, name: str) -> None:
        self._reload(select=name or None)
        if not name and self.list.count() == 0:
            self.form.load(None, "openai")
