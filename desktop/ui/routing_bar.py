"""Routing controls in view: mode, the cost-quality control and the current pair."""

from __future__ import annotations

import html
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.types import ModelRef

__all__ = ["RoutingBar"]


class RoutingBar(QFrame):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.state = controller.routing
        self.setObjectName("routingBar")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 0)
        outer.setSpacing(2)
        lay = QHBoxLayout()
        lay.setSpacing(8)
        outer.addLayout(lay)

        lay.addWidget(QLabel("Route:"))
        self.mode = QComboBox()
        self.mode.setToolTip("Auto lets the router pick per message; the others force a model")
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(12)
        lay.addWidget(self.mode)

        self.control = QComboBox()
        self.control.addItem("Strong share", "share")
        self.control.addItem("Monthly budget", "budget")
        self.control.setToolTip("How Auto trades cost for quality")
        lay.addWidget(self.control)

        self.stack = QStackedWidget()
        share = QWidget()
        sl = QHBoxLayout(share)
        sl.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setSingleStep(5)
        self.slider.setPageStep(10)
        self.slider.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 5)
        self.slider.setToolTip("Target share of messages sent to the strong model")
        self.share_label = QLabel()
        self.share_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("100 % strong "))
        sl.addWidget(self.slider, 1)
        sl.addWidget(self.share_label)
        budget = QWidget()
        bl = QHBoxLayout(budget)
        bl.setContentsMargins(0, 0, 0, 0)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0, 100000)
        self.budget.setDecimals(2)
        self.budget.setPrefix("$")
        self.budget.setSuffix(" / month")
        self.budget.setValue(10.0)
        self.budget.setToolTip("RouteDesk paces strong calls so the month's spend stays under this")
        self.budget_used = QLabel()
        self.budget_used.setObjectName("muted")
        bl.addWidget(self.budget)
        bl.addWidget(self.budget_used)
        self.stack.addWidget(share)
        self.stack.addWidget(budget)
        lay.addWidget(self.stack, 1)

        self.pair = QLabel()
        self.pair.setTextFormat(Qt.TextFormat.RichText)
        self.pair.setWordWrap(True)
        self.pair.setObjectName("muted")
        self.pair.linkActivated.connect(lambda _h: controller.settings_requested.emit(""))
        outer.addWidget(self.pair)

        self._commit_share = QTimer(self)
        self._commit_share.setSingleShot(True)
        self._commit_share.setInterval(250)
        self._commit_share.timeout.connect(
            lambda: controller.set_policy("share", target_share=self.slider.value() / 100)
        )
        self.slider.valueChanged.connect(self._slider_moved)
        self.budget.editingFinished.connect(
            lambda: controller.set_policy("budget", monthly_usd=Decimal(str(round(self.budget.value(), 2))))
        )
        self.control.currentIndexChanged.connect(self._control_changed)
        self.mode.activated.connect(self._mode_chosen)
        self.state.changed.connect(self.refresh)
        controller.answer_finished.connect(lambda _r: self._budget_text())
        self._updating = False
        self.refresh()

    def refresh(self) -> None:
        s = self.state
        self._updating = True
        try:
            self.mode.clear()
            self.mode.addItem("Auto", "auto")
            self.mode.addItem("Always strong", "strong")
            self.mode.addItem("Always weak", "weak")
            if s.models:
                self.mode.insertSeparator(3)
                for ref in s.models:
                    self.mode.addItem(f"Only {ref}", str(ref))
            cur = str(s.mode)
            idx = self.mode.findData(cur)
            if idx < 0 and isinstance(s.mode, ModelRef):
                self.mode.addItem(f"Only {cur}", cur)
                idx = self.mode.count() - 1
            self.mode.setCurrentIndex(max(0, idx))
            self.control.setCurrentIndex(1 if s.control == "budget" else 0)
            self.stack.setCurrentIndex(1 if s.control == "budget" else 0)
            self.slider.setValue(round(s.target_share * 100))
            self.share_label.setText(f"{round(s.target_share * 100)} % strong")
            if s.monthly_budget is not None:
                self.budget.setValue(float(s.monthly_budget))
            auto = s.mode == "auto"
            self.control.setEnabled(auto)
            self.stack.setEnabled(auto)
            self.pair.setText(self._pair_html())
            self._budget_text()
        finally:
            self._updating = False

    def _pair_html(self) -> str:
        s = self.state

        def name(ref):
            return html.escape(f"{ref.model} ({ref.provider})") if ref else "<i>not set</i>"

        return f"Strong: <b>{name(s.strong)}</b> · Weak: <b>{name(s.weak)}</b> <a href='change'>Change…</a>"

    def _budget_text(self) -> None:
        if self.state.control == "budget":
            spent = self.controller.month_spend()
            self.budget_used.setText(f"${float(spent):.2f} spent this month")

    def _slider_moved(self, v: int) -> None:
        self.share_label.setText(f"{v} % strong")
        if not self._updating:
            self._commit_share.start()

    def _control_changed(self, i: int) -> None:
        if self._updating:
            return
        control = self.control.itemData(i)
        self.stack.setCurrentIndex(1 if control == "budget" else 0)
        if control == "budget":
            self.controller.set_policy("budget", monthly_usd=Decimal(str(round(self.budget.value(), 2))))
        else:
            self.controller.set_policy("share", target_share=self.slider.value() / 100)

    def _mode_chosen(self, i: int) -> None:
        data = self.mode.itemData(i)
        mode = ModelRef.parse(data) if isinstance(data, str) and "/" in data else data
        self.controller.set_mode(mode)
