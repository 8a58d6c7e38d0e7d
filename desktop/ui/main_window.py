"""The main window: sidebar | chat (or welcome) | chart panel, with status bar health."""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.chat_view import ChatView
from desktop.ui.health import HealthIndicator
from desktop.ui.input_box import InputBox
from desktop.ui.routing_bar import RoutingBar
from desktop.ui.sidebar import Sidebar
from desktop.ui.theme import icon, set_icon, stylesheet
from desktop.ui.welcome import WelcomeScreen

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)

GEOMETRY_KEY = "ui.geometry"
SPLITTER_KEY = "ui.splitter"
CHART_KEY = "ui.chart_visible"
LAST_CONV_KEY = "ui.last_conversation"


class MainWindow(QMainWindow):
    closed = Signal()  # after the controller closed (streams cancelled, database closed)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("RouteDesk")
        self.setWindowIcon(icon("routedesk"))
        self._closing = False
        self._closed = False

        self.sidebar = Sidebar(controller)
        self.chat = ChatView(controller)
        self.routing_bar = RoutingBar(controller)
        self.input = InputBox(controller)
        chat_col = QWidget()
        col = QVBoxLayout(chat_col)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.chat, 1)
        col.addWidget(self.routing_bar)
        col.addWidget(self.input)
        self.chat_column = chat_col

        self.welcome = WelcomeScreen(controller)
        self.center = QStackedWidget()
        self.center.addWidget(chat_col)
        self.center.addWidget(self.welcome)

        from desktop.ui.chart import SpendChart

        self.chart = SpendChart(controller)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.center)
        self.splitter.addWidget(self.chart)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setCollapsible(1, False)
        self.setCentralWidget(self.splitter)

        self._build_actions()
        self._build_status()

        controller.notice.connect(self.show_notice)
        controller.undo_offered.connect(self.offer_undo)
        controller.settings_requested.connect(self.open_settings)
        controller.providers_changed.connect(self._update_center)
        controller.routing.changed.connect(self._update_center)
        controller.conversation_changed.connect(lambda _c: self._update_center())
        self.sidebar.message_requested.connect(self.chat.ensure_visible_message)
        self.welcome.done.connect(self._welcome_done)
        self._welcome_dismissed = bool(controller.setting("ui.welcome_dismissed", False))
        self._apply_style()
        self.restore_state()
        self._update_center()
        self.input.edit.setFocus()
        if controller.has_any_provider():  # the status-bar dots, once, after the first paint
            QTimer.singleShot(800, self._first_health_check)
        QTimer.singleShot(300, self, lambda: controller.spawn(controller.prewarm()))

    def _first_health_check(self) -> None:
        if not self._closing and not self.controller.health.checking and not self.controller.health.providers:
            self.controller.spawn(self.controller.check_health())

    # --- construction -----------------------------------------------------------------
    def _build_actions(self) -> None:
        c = self.controller
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        self.toolbar = tb

        def act(text, slot, shortcut=None, icon_name=None, tip=None, checkable=False):
            a = QAction(text, self)
            if icon_name:
                set_icon(a, icon_name)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            a.setToolTip(tip or text)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.new_action = act("New chat", lambda: c.new_conversation(), QKeySequence.StandardKey.New, "plus", "New conversation (Ctrl+N)")
        self.settings_action = act("Settings", lambda: self.open_settings(""), QKeySequence.StandardKey.Preferences, "gear",
                                   "Providers, keys, models and prices")
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.chart_action = act("Spend chart", self.toggle_chart, "Ctrl+Shift+C", "chart", "Show or hide the routing and spend chart", True)
        self.health_action = act("Health", self.open_health, None, "pulse", "Provider status, local models, pull a model")
        self.stop_action = act("Stop", c.stop, None, "stop", "Stop the answer (Esc)")
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.quit_action = act("Quit", self.close, QKeySequence.StandardKey.Quit, None, "Quit RouteDesk (Ctrl+Q)")
        if self.quit_action.shortcut().isEmpty():
            self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.search_action = act("Search", lambda: self.sidebar.search.setFocus(), QKeySequence.StandardKey.Find)
        for a in (self.new_action, self.settings_action, self.chart_action, self.health_action):
            tb.addAction(a)
        self.stop_action.setEnabled(False)
        c.busy_changed.connect(self.stop_action.setEnabled)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.notice_label = QLabel()
        self.notice_label.setObjectName("muted")
        self.undo_btn = QPushButton("Undo")
        self.undo_btn.hide()
        self.undo_btn.clicked.connect(self._undo)
        self._undo_cb = None
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self._clear_notice)
        self.health_indicator = HealthIndicator(self.controller)
        self.health_indicator.clicked.connect(self.open_health)
        sb.addWidget(self.notice_label, 1)
        sb.addWidget(self.undo_btn)
        sb.addPermanentWidget(self.health_indicator)

    def _apply_style(self) -> None:
        self.setStyleSheet(stylesheet(self.palette()))

    def changeEvent(self, e) -> None:  # noqa: N802
        if e.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if not getattr(self, "_restyling", False):
                self._restyling = True
                try:
                    self._apply_style()
                    from desktop.ui.theme import refresh_icons

                    refresh_icons(self)
                finally:
                    self._restyling = False
        super().changeEvent(e)

    # --- center: welcome or chat --------------------------------------------------------
    def _update_center(self) -> None:
        show_welcome = not self._welcome_dismissed and not self.controller.has_any_provider()
        self.center.setCurrentWidget(self.welcome if show_welcome else self.chat_column)
        if show_welcome:
            self.welcome.refresh()

    def _welcome_done(self) -> None:
        self._welcome_dismissed = True
        self.controller.set_setting("ui.welcome_dismissed", True)
        self._update_center()

    # --- notices -----------------------------------------------------------------------
    def show_notice(self, text: str, ms: int = 6000) -> None:
        self.notice_label.setText(text)
        self._notice_timer.start(ms)

    def _clear_notice(self) -> None:
        self.notice_label.clear()
        self.undo_btn.hide()
        self._undo_cb = None

    def offer_undo(self, text: str, undo) -> None:
        self._undo_cb = undo
        self.undo_btn.show()
        self.show_notice(text, 10000)

    def _undo(self) -> None:
        cb, self._undo_cb = self._undo_cb, None
        self.undo_btn.hide()
        if cb is not None:
            cb()
            self.show_notice("Restored.")

    # --- panels and dialogs ------------------------------------------------------------
    def toggle_chart(self, checked: bool | None = None) -> None:
        visible = not self.chart.isVisible() if checked is None else bool(checked)
        self.chart.setVisible(visible)
        self.chart_action.setChecked(visible)
        if visible:
            self.controller.refresh_spend()
            sizes = self.splitter.sizes()
            if sizes[2] < self.chart.minimumSizeHint().width():
                total = sum(sizes)
                w = max(self.fontMetrics().horizontalAdvance("M") * 28, total // 3)
                self.splitter.setSizes([sizes[0], max(200, total - sizes[0] - w), w])

    def open_settings(self, provider: str = "") -> None:
        from desktop.ui.settings import SettingsDialog

        dlg = getattr(self, "_settings", None)
        if dlg is None:
            dlg = self._settings = SettingsDialog(self.controller, self)
        dlg.select_provider(provider)
        dlg.show()
        dlg.raise_()
        dlg.activateWindow()

    def open_health(self) -> None:
        from desktop.ui.health import HealthDialog

        dlg = getattr(self, "_health", None)
        if dlg is None:
            dlg = self._health = HealthDialog(self.controller, self)
        dlg.show()
        dlg.raise_()
        if not self.controller.health.checking:
            self.controller.spawn(self.controller.check_health())

    # --- state ----------------------------------------------------------------------------
    def save_state(self) -> None:
        c = self.controller
        c.set_setting(GEOMETRY_KEY, base64.b64encode(bytes(self.saveGeometry())).decode("ascii"))
        c.set_setting(SPLITTER_KEY, self.splitter.sizes())
        c.set_setting(CHART_KEY, self.chart.isVisible())

    def restore_state(self) -> None:
        c = self.controller
        geo = c.setting(GEOMETRY_KEY)
        if geo:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(geo)))
            except Exception:
                log.info("could not restore geometry")
        else:
            fm = self.fontMetrics()
            self.resize(fm.horizontalAdvance("M") * 95, fm.lineSpacing() * 42)
        sizes = c.setting(SPLITTER_KEY)
        chart_visible = bool(c.setting(CHART_KEY, False))
        self.chart.setVisible(chart_visible)
        self.chart_action.setChecked(chart_visible)
        if isinstance(sizes, list) and len(sizes) == 3:
            self.splitter.setSizes([int(s) for s in sizes])
        else:
            fm = self.fontMetrics()
            side = fm.horizontalAdvance("M") * 18
            self.splitter.setSizes([side, self.width() - side, fm.horizontalAdvance("M") * 26])
        c.refresh_conversations()
        last = c.setting(LAST_CONV_KEY)
        if isinstance(last, int) and c.conversations.row_of(last) >= 0:
            c.open_conversation(last)
        if chart_visible:
            c.refresh_spend()

    # --- quitting -----------------------------------------------------------------------
    def closeEvent(self, e) -> None:  # noqa: N802
        if self._closed:
            e.accept()
            return
        e.ignore()
        if self._closing:
            return
        self._closing = True
        try:
            self.save_state()
        except Exception:
            log.exception("saving window state failed")
        for dlg in (getattr(self, "_settings", None), getattr(self, "_health", None)):
            if dlg is not None:
                dlg.close()
        import asyncio

        asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            await self.controller.aclose()
        except Exception:
            log.exception("closing the engine failed")
        self._closed = True
        self.close()
        self.closed.emit()
