"""The main window: sidebar | chat (or welcome) | chart panel, with status bar health.

The window is built in two steps so it can appear before the engine is loaded:
``MainWindow(state=...)`` is the frame (title, toolbar, splitter with placeholders of the
final sizes, status bar, restored geometry) and costs only Qt; ``attach(controller)``
builds the content into it. ``MainWindow(controller)`` does both at once.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QTimer, Signal
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

from desktop.ui import prefetch
from desktop.ui.theme import icon, set_icon, stylesheet

__all__ = ["MainWindow"]


# The frame is shown before anything touches the ``Qt`` namespace: PySide6 creates the
# Python enums of all of it (about 90) on first use, 13 ms, and QAction.setShortcut's
# overload resolution is such a use. So the frame sets enum and shortcut Q_PROPERTYs by
# name, as stylesheets and .ui files do; Qt converts them.
def _set_enum(obj, prop: str, key: str) -> None:
    if not obj.setProperty(prop, key):
        raise ValueError(f"{type(obj).__name__}.{prop} = {key!r} was not accepted")


def _set_shortcut(action, keys) -> None:
    """``action.setShortcut(QKeySequence(keys))`` (keys: a string or a StandardKey)."""
    if not action.setProperty("shortcut", QKeySequence(keys)):
        raise ValueError(f"shortcut {keys!r} was not accepted")

log = logging.getLogger(__name__)

GEOMETRY_KEY = "ui.geometry"
SPLITTER_KEY = "ui.splitter"
CHART_KEY = "ui.chart_visible"
LAST_CONV_KEY = "ui.last_conversation"


class MainWindow(QMainWindow):
    closed = Signal()  # after the controller closed (streams cancelled, database closed)
    ready = Signal()  # the content is attached (after attach(controller))

    def __init__(self, controller=None, parent: QWidget | None = None, *, state: dict | None = None) -> None:
        super().__init__(parent)
        self.controller: Any = None  # an AppController once the engine has loaded (attach)
        self.setWindowTitle("RouteDesk")
        self.setWindowIcon(icon("routedesk"))
        self._closing = False
        self._closed = False
        self._layout_restored = False

        # the frame: placeholders where the sidebar, the centre and the chart go
        self.splitter = QSplitter()  # horizontal
        sidebar_ph = QWidget()
        loading = QLabel("Loading\u2026")
        loading.setObjectName("muted")
        _set_enum(loading, "alignment", "AlignCenter")
        chart_ph = QWidget()
        chart_ph.setVisible(False)
        for w in (sidebar_ph, loading, chart_ph):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setCollapsible(1, False)
        self.setCentralWidget(self.splitter)
        self._placeholders: tuple[QWidget, ...] = (sidebar_ph, loading, chart_ph)

        self._build_actions()
        self._build_status()
        self._apply_style()
        if state is not None:
            self._restore_layout(state.get)
        if controller is not None:
            self.attach(controller)

    def attach(self, controller) -> None:
        """Build the content over ``controller`` into the frame (once)."""
        from desktop.ui.chart import SpendChart
        from desktop.ui.chat_view import ChatView
        from desktop.ui.health import HealthIndicator
        from desktop.ui.input_box import InputBox
        from desktop.ui.routing_bar import RoutingBar
        from desktop.ui.sidebar import Sidebar
        from desktop.ui.welcome import WelcomeScreen

        if self.controller is not None:
            raise RuntimeError("MainWindow.attach() runs once")
        self.controller = controller
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
        self.chart = SpendChart(controller)

        # same geometry and visibility as the placeholders they replace: nothing moves
        sizes = self.splitter.sizes()
        for i, w in enumerate((self.sidebar, self.center, self.chart)):
            self.splitter.replaceWidget(i, w)
        for ph in self._placeholders:
            ph.deleteLater()
        self._placeholders = ()
        if self._layout_restored:  # the frame was laid out (and maybe shown) already
            self.splitter.setSizes(sizes)
            self.chart_action.setChecked(not self.chart.isHidden())  # if clicked while loading

        self.health_indicator = HealthIndicator(controller)
        self.health_indicator.clicked.connect(self.open_health)
        self.statusBar().addPermanentWidget(self.health_indicator)
        controller.busy_changed.connect(self.stop_action.setEnabled)

        controller.notice.connect(self.show_notice)
        controller.undo_offered.connect(self.offer_undo)
        controller.settings_requested.connect(self.open_settings)
        controller.providers_changed.connect(self._update_center)
        controller.routing.changed.connect(self._update_center)
        controller.conversation_changed.connect(lambda _c: self._update_center())
        self.sidebar.message_requested.connect(self.chat.ensure_visible_message)
        self.welcome.done.connect(self._welcome_done)
        from desktop.ui.transfer import install_transfer

        self.transfer = install_transfer(self, controller)  # File → Import/Export, conversation menu Export
        self._welcome_dismissed = bool(controller.setting("ui.welcome_dismissed", False))
        self.restore_state()
        self._update_center()
        self.input.edit.setFocus()
        if controller.has_any_provider():  # the status-bar dots, once, after the first paint
            QTimer.singleShot(800, self._first_health_check)
        # price data and the router load when the user starts typing (or sends), not at start
        self.input.edit.textChanged.connect(self._warm_up_once)
        self.ready.emit()

    def _warm_up_once(self) -> None:
        self.input.edit.textChanged.disconnect(self._warm_up_once)
        self.controller.warm_up()

    def _first_health_check(self) -> None:
        if not self._closing and not self.controller.health.checking and not self.controller.health.providers:
            self.controller.spawn(self.controller.check_health())

    # --- construction -----------------------------------------------------------------
    def _build_actions(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        _set_enum(tb, "toolButtonStyle", "ToolButtonTextBesideIcon")
        self.addToolBar(tb)
        self.toolbar = tb

        def act(text, slot, shortcut=None, icon_name=None, tip=None, checkable=False):
            a = QAction(text, self)
            if icon_name:
                set_icon(a, icon_name)
            if shortcut:
                _set_shortcut(a, shortcut)
                _set_enum(a, "shortcutContext", "ApplicationShortcut")
            a.setToolTip(tip or text)
            a.setCheckable(checkable)
            if slot == self.close:
                a.triggered.connect(slot)
            elif checkable:  # no-ops in the frame, before the content is attached
                a.triggered.connect(
                    lambda *_a, a=a, slot=slot: None if self.controller is None else slot(a.isChecked()))
            else:
                a.triggered.connect(lambda *_a, slot=slot: None if self.controller is None else slot())
            self.addAction(a)
            return a

        self.new_action = act("New chat", lambda: self.controller.new_conversation(), QKeySequence.StandardKey.New,
                              "plus", "New conversation (Ctrl+N)")
        self.settings_action = act("Settings", lambda: self.open_settings(""), QKeySequence.StandardKey.Preferences,
                                   "gear", "Providers, keys, models and prices")
        if self.settings_action.shortcut().isEmpty():
            _set_shortcut(self.settings_action, "Ctrl+,")
        self.chart_action = act("Spend chart", self.toggle_chart, "Ctrl+Shift+C", "chart",
                                "Show or hide the routing and spend chart", True)
        self.health_action = act("Health", self.open_health, None, "pulse",
                                 "Provider status, local models, pull a model")
        self.stop_action = act("Stop", lambda: self.controller.stop(), None, "stop", "Stop the answer (Esc)")
        _set_shortcut(self.stop_action, "Esc")
        _set_enum(self.stop_action, "shortcutContext", "WindowShortcut")
        self.quit_action = act("Quit", self.close, QKeySequence.StandardKey.Quit, None, "Quit RouteDesk (Ctrl+Q)")
        if self.quit_action.shortcut().isEmpty():
            _set_shortcut(self.quit_action, "Ctrl+Q")
        self.search_action = act("Search", lambda: self.sidebar.search.setFocus(), QKeySequence.StandardKey.Find)
        for a in (self.new_action, self.settings_action, self.chart_action, self.health_action):
            tb.addAction(a)
        prefetch.prefetch_on_hover(tb.widgetForAction(self.chart_action), prefetch.PLOTTING)
        self.stop_action.setEnabled(False)

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
        sb.addWidget(self.notice_label, 1)
        sb.addWidget(self.undo_btn)

    def _apply_style(self) -> None:
        self.setStyleSheet(stylesheet(self.palette()))

    def changeEvent(self, e) -> None:  # noqa: N802
        palette = e.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if palette and not getattr(self, "_restyling", False):
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

        self.controller.warm_up()  # the price data, for the prices it lists
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
        if not self._layout_restored:
            self._restore_layout(c.setting)
        c.refresh_conversations()
        last = c.setting(LAST_CONV_KEY)
        if isinstance(last, int) and c.conversations.row_of(last) >= 0:
            c.open_conversation(last)
        if self.chart_action.isChecked():
            c.refresh_spend()

    def _restore_layout(self, get) -> None:
        """Geometry, splitter sizes and the chart's visibility from ``get(key, default=None)``
        (the controller's settings, or the same settings read before the engine loads)."""
        self._layout_restored = True
        geo = get(GEOMETRY_KEY)
        if geo:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(geo)))
            except Exception:
                log.info("could not restore geometry")
        else:
            fm = self.fontMetrics()
            self.resize(fm.horizontalAdvance("M") * 95, fm.lineSpacing() * 42)
        sizes = get(SPLITTER_KEY)
        chart_visible = bool(get(CHART_KEY, False))
        self.splitter.widget(2).setVisible(chart_visible)
        self.chart_action.setChecked(chart_visible)
        if isinstance(sizes, list) and len(sizes) == 3:
            self.splitter.setSizes([int(s) for s in sizes])
        else:
            fm = self.fontMetrics()
            side = fm.horizontalAdvance("M") * 18
            self.splitter.setSizes([side, self.width() - side, fm.horizontalAdvance("M") * 26])

    # --- quitting -----------------------------------------------------------------------
    def closeEvent(self, e) -> None:  # noqa: N802
        if self._closed:
            e.accept()
            return
        if self.controller is None:  # closed while loading: nothing to save or shut down yet
            self._closing = self._closed = True
            e.accept()
            self.closed.emit()
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
