"""Settings → Local endpoint: a switch that starts RouteDesk's OpenAI-compatible endpoint
inside the running app (on its qasync loop), its address with a copy button, and the
clients list: "New token" (shown once, with copy), revoke. Every operation is one of the
engine's services (``engine.endpoint``, ``engine.clients``); nothing is computed here."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import RouteDeskError

__all__ = ["EndpointPanel"]

_COLUMNS = ("Name", "Created", "Last used", "This month", "Budget")


def _usd(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    if amount == 0:
        return "$0"
    return f"${amount:.6f}".rstrip("0") if amount < Decimal("0.01") else f"${amount:.2f}"


def _refresh_spend(controller: Any) -> Any:
    """After each answer the endpoint served, the window's spend chart follows, as it does
    for the window's own answers (the controller outlives this panel)."""

    def on_request(entry: Any) -> None:
        if entry.model is not None:
            controller.refresh_spend()

    return on_request


class EndpointPanel(QFrame):
    """Lives in the Settings dialog; the server it starts belongs to the engine, so it keeps
    running when the dialog closes."""

    state_changed = Signal()  # started, stopped, failed to start, clients changed

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.engine = controller.engine
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Local endpoint")
        title.setObjectName("sectionTitle")
        lay.addWidget(title)
        self.switch = QCheckBox("Let other tools on this computer use RouteDesk (OpenAI-compatible API)")
        self.switch.toggled.connect(self._toggled)
        lay.addWidget(self.switch)
        row = QHBoxLayout()
        self.address = QLineEdit()
        self.address.setReadOnly(True)
        self.address.setPlaceholderText("off")
        self.copy_btn = QPushButton("Copy")
        self.copy_btn.clicked.connect(lambda: self._copy(self.address.text()))
        row.addWidget(QLabel("Address:"))
        row.addWidget(self.address, 1)
        row.addWidget(self.copy_btn)
        lay.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.history = QCheckBox("Also keep requests from other tools in the chat history")
        self.history.setChecked(self.engine.endpoint.history)
        self.history.toggled.connect(self.engine.endpoint.set_history)
        lay.addWidget(self.history)

        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        lay.addWidget(self.table)
        add_row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("tool name, e.g. vscode")
        self.budget_edit = QLineEdit()
        self.budget_edit.setPlaceholderText("budget $/month (optional)")
        self.new_btn = QPushButton("New token")
        self.new_btn.clicked.connect(self.new_token)
        self.revoke_btn = QPushButton("Revoke")
        self.revoke_btn.clicked.connect(self.revoke)
        for w in (self.name_edit, self.budget_edit, self.new_btn, self.revoke_btn):
            add_row.addWidget(w)
        lay.addLayout(add_row)

        # the new token, shown once: copy it, then Done forgets it
        self.token_box = QFrame()
        self.token_box.setObjectName("noticeCard")
        tl = QHBoxLayout(self.token_box)
        self.token_label = QLabel()
        self.token_edit = QLineEdit()
        self.token_edit.setReadOnly(True)
        self.token_copy = QPushButton("Copy")
        self.token_copy.clicked.connect(lambda: self._copy(self.token_edit.text()))
        self.token_done = QPushButton("Done")
        self.token_done.clicked.connect(self.forget_token)
        for w in (self.token_label, self.token_edit, self.token_copy, self.token_done):
            tl.addWidget(w)
        self.token_box.setVisible(False)
        lay.addWidget(self.token_box)
        self._sync()
        self.refresh()

    # --- the switch ---------------------------------------------------------------------

    def _toggled(self, on: bool) -> None:
        if on == self.engine.endpoint.running:
            return
        self.switch.setEnabled(False)
        self.controller.spawn(self._start() if on else self._stop())

    async def _start(self) -> None:
        from desktop.engine.endpoint_service import DEFAULT_HOST, DEFAULT_PORT

        try:
            await self.engine.endpoint.start(DEFAULT_HOST, self._port(DEFAULT_PORT),
                                             on_request=_refresh_spend(self.controller))
        except RouteDeskError as err:
            self.status.setText(f"{err.message} {err.fix}")
        self._sync()

    async def _stop(self) -> None:
        await self.engine.endpoint.stop()
        self._sync()

    def _port(self, default: int) -> int:
        """The port to listen on; tests and power users set ``ui.endpoint_port``."""
        try:
            return int(self.controller.setting("ui.endpoint_port", default))
        except (TypeError, ValueError):
            return default

    def _sync(self) -> None:
        running = self.engine.endpoint.running
        self.switch.blockSignals(True)
        self.switch.setChecked(running)
        self.switch.blockSignals(False)
        self.switch.setEnabled(True)
        self.address.setText(self.engine.endpoint.url or "")
        self.copy_btn.setEnabled(running)
        if running:
            self.status.setText("Running. Give a tool this address as its OpenAI base URL and one of the tokens "
                                "below as its API key.")
        elif not self.status.text() or self.status.text().startswith("Running"):
            self.status.setText("Off.")
        self.state_changed.emit()

    # --- clients ----------------------------------------------------------------------

    def refresh(self) -> None:
        rows = self.engine.clients.list()
        self.table.setRowCount(len(rows))
        for i, c in enumerate(rows):
            cells = (c.name, f"{c.created_at.astimezone():%Y-%m-%d}",
                     "never" if c.last_used_at is None else f"{c.last_used_at.astimezone():%Y-%m-%d %H:%M}",
                     _usd(c.month_usd), "no limit" if c.budget_usd is None else _usd(c.budget_usd))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, c.name)
                self.table.setItem(i, j, item)

    def new_token(self) -> None:
        name = self.name_edit.text().strip()
        budget: Decimal | None = None
        text = self.budget_edit.text().strip().lstrip("$")
        try:
            if text:
                budget = Decimal(text)
            _info, token = self.engine.clients.add(name, budget)
        except InvalidOperation:
            self.status.setText(f"{text!r} is not an amount in dollars; leave it empty for no budget.")
            return
        except RouteDeskError as err:
            self.status.setText(f"{err.message} {err.fix}")
            return
        self.name_edit.clear()
        self.budget_edit.clear()
        self.token_label.setText(f"Token for {name} (shown only now):")
        self.token_edit.setText(token)
        self.token_box.setVisible(True)
        self.refresh()
        self.state_changed.emit()

    def forget_token(self) -> None:
        self.token_edit.clear()
        self.token_box.setVisible(False)

    def selected_name(self) -> str | None:
        items = self.table.selectedItems()
        return None if not items else str(items[0].data(Qt.ItemDataRole.UserRole))

    def revoke(self) -> None:
        name = self.selected_name()
        if name is None:
            self.status.setText("Pick a client in the list first.")
            return
        try:
            self.engine.clients.remove(name)
        except RouteDeskError as err:
            self.status.setText(f"{err.message} {err.fix}")
        else:
            self.status.setText(f"{name}'s token no longer works.")
        self.refresh()
        self.state_changed.emit()

    @staticmethod
    def _copy(text: str) -> None:
        if text:
            QApplication.clipboard().setText(text)
