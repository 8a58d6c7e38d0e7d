"""The live chart: share of messages routed to strong, and cumulative spend beside
what "always strong" would have cost, over today / 7 days / 30 days, for everything, for
the window's own answers or for one local endpoint client.

pyqtgraph is imported the first time the panel is shown, so a window that never
opens the chart does not pay for it, and in a worker thread (``desktop.ui.prefetch``),
so the panel and its totals appear at the click and the plots a moment later instead of
the window freezing for the import.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop.ui import prefetch
from desktop.ui.models import SpendSeries
from desktop.ui.theme import is_dark, mix

__all__ = ["SpendChart"]


class SpendChart(QWidget):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.series: SpendSeries = controller.spend
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 8, 8, 8)
        head = QHBoxLayout()
        t = QLabel("Routing and spend")
        t.setObjectName("sectionTitle")
        head.addWidget(t)
        head.addStretch(1)
        self.client = QComboBox()  # whose spend: filled from the controller, kept current on each redraw
        self.client.setToolTip("Whose answers: all, this app's, or one local endpoint client's")
        self.client.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.client.currentIndexChanged.connect(
            lambda i: i >= 0 and controller.set_spend_client(self.client.itemData(i)))
        head.addWidget(self.client)
        self.range = QComboBox()
        for key, label in SpendSeries.RANGES.items():
            self.range.addItem(label, key)
        self.range.currentIndexChanged.connect(lambda i: controller.set_spend_range(self.range.itemData(i)))
        head.addWidget(self.range)
        lay.addLayout(head)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.totals)
        self.hover = QLabel(" ")
        self.hover.setObjectName("muted")
        self.hover.setWordWrap(True)
        lay.addWidget(self.hover)
        self._plots_box = QVBoxLayout()
        lay.addLayout(self._plots_box, 1)
        self.drawing = QLabel("Drawing the chart…")  # while pyqtgraph loads, the first time
        self.drawing.setObjectName("muted")
        self.drawing.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drawing.hide()
        self._plots_box.addWidget(self.drawing, 1)
        self.share_plot: Any = None  # pyqtgraph PlotWidgets, made when the chart is first shown
        self.spend_plot: Any = None
        self._building = False  # the plots are being made, one per event-loop turn
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 22)
        self.series.changed.connect(self.redraw)
        self.redraw()

    # --- lazy pyqtgraph ------------------------------------------------------------------
    def _plot_steps(self) -> Iterator[None]:
        """Make the two plots in steps: a pyqtgraph PlotWidget takes 20-40 ms to make the
        first time (more on a busy machine), so ``_plots_loaded`` makes one per event-loop
        turn, then shows and fills both, rather than stall the window for all of it at once.
        They stay hidden until both exist, and ``share_plot`` is set last: it says the plots
        are there."""
        if self.share_plot is not None:
            return
        import pyqtgraph as pg

        # pyqtgraph's atexit clean-up walks every graphics item during interpreter
        # shutdown; with PySide6 that can crash after a clean exit. Widgets are
        # deleted by Qt's ownership instead.
        pg.setConfigOptions(exitCleanup=False, antialias=True)
        pal = self.palette()
        lw = 2 * max(1.0, self.devicePixelRatioF())  # cosmetic pens are in device pixels: keep 2 px at 200 %
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        dark = is_dark(pal)
        self._pg = pg
        self._colors = {
            "share": QColor("#58a6ff" if dark else "#0969da"),
            "spent": QColor("#3fb950" if dark else "#1a7f37"),
            "always": QColor("#f0883e" if dark else "#bc4c00"),
        }

        def make(title: str, unit: str):
            axis = pg.DateAxisItem(orientation="bottom")
            w = pg.PlotWidget(axisItems={"bottom": axis})
            w.hide()  # until both plots exist
            w.setBackground(bg)
            w.setTitle(title, color=fg.name(), size=f"{max(8, self.font().pointSize())}pt")
            for name in ("left", "bottom"):
                ax = w.getAxis(name)
                ax.setPen(mix(bg, fg, 0.5))
                ax.setTextPen(fg)
            w.showGrid(x=True, y=True, alpha=0.2)
            w.setLabel("left", unit)
            w.setMouseEnabled(x=False, y=False)
            w.hideButtons()
            w.setMenuEnabled(False)
            menu = w.getPlotItem().ctrlMenu  # parentless in pyqtgraph: it would outlive the window
            menu.setParent(w, menu.windowFlags())
            vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(mix(bg, fg, 0.4), style=Qt.PenStyle.DashLine))
            vline.hide()
            w.addItem(vline, ignoreBounds=True)
            w._vline = vline
            w.scene().sigMouseMoved.connect(lambda pos, w=w: self._on_hover(w, pos))
            self._plots_box.addWidget(w, 1)
            return w

        share_plot = make("Share of messages sent to the strong model", "%")
        share_plot.setYRange(0, 100)
        self.share_curve = share_plot.plot([], [], pen=pg.mkPen(self._colors["share"], width=lw),
                                           symbol="o", symbolSize=int(3 + 2 * lw / 2),
                                           symbolBrush=self._colors["share"], symbolPen=None)
        target = self.controller.routing.target_share * 100
        self.target_line = pg.InfiniteLine(pos=target, angle=0, movable=False,
                                           pen=pg.mkPen(mix(bg, fg, 0.45), style=Qt.PenStyle.DotLine),
                                           label="target", labelOpts={"color": fg.name(), "position": 0.92})
        share_plot.addItem(self.target_line)
        yield
        spend_plot = make("Cumulative spend", "USD")
        spend_plot.getAxis("left").enableAutoSIPrefix(False)  # $0.004, not "4 (x0.001)"
        legend = spend_plot.addLegend(offset=(10, 10), labelTextColor=fg)
        legend.setBrush(mix(bg, fg, 0.04))
        self.spent_curve = spend_plot.plot([], [], pen=pg.mkPen(self._colors["spent"], width=lw), name="you spent",
                                           stepMode=None)
        dashed = pg.mkPen(self._colors["always"], width=lw, style=Qt.PenStyle.DashLine)
        self.always_curve = spend_plot.plot([], [], pen=dashed, name="always strong would cost")
        self.controller.routing.changed.connect(
            lambda: self.target_line.setValue(self.controller.routing.target_share * 100)
        )
        yield  # showing them (their first layout) and filling them in take the next turn
        self.drawing.hide()
        share_plot.show()
        spend_plot.show()
        self.spend_plot = spend_plot
        self.share_plot = share_plot

    def showEvent(self, e) -> None:  # noqa: N802
        super().showEvent(e)
        if self.share_plot is None:
            if not prefetch.is_loaded(prefetch.PLOTTING):
                self.drawing.show()
            prefetch.load_then(prefetch.PLOTTING, self._plots_loaded)  # which redraws
            if self.share_plot is not None:
                return
        self.redraw()

    def _plots_loaded(self) -> None:
        if not shiboken6.isValid(self) or self.share_plot is not None or self._building or not self.isVisible():
            return  # deleted or hidden meanwhile (the window closing), or being built or built by an earlier show
        self._building = True
        self._next_plot(self._plot_steps())

    def _next_plot(self, steps: Iterator[None]) -> None:
        """One step of ``_plot_steps``, the next on the next event-loop turn."""
        if not shiboken6.isValid(self):
            return  # deleted meanwhile (the window closing)
        try:
            for _ in steps:
                QTimer.singleShot(1, self, lambda: self._next_plot(steps))  # a timer: what waits runs first
                return
        except ImportError as e:  # a broken install: say so where the plots would be
            self._building = False
            self.drawing.setText(f"The chart cannot be drawn: its plotting library did not load ({e}).")
            self.drawing.setWordWrap(True)
            return
        self._building = False
        if self.isVisible():  # else the next show redraws (the window may be closing: its store is)
            self.redraw()

    # --- drawing ---------------------------------------------------------------------
    def _fill_clients(self) -> None:
        """Offer the clients known now (one added while the window runs appears at the next redraw)."""
        filters = self.controller.spend_filters()
        have = [(self.client.itemText(i), self.client.itemData(i)) for i in range(self.client.count())]
        if have == filters:
            return
        self.client.blockSignals(True)
        self.client.clear()
        for label, value in filters:
            self.client.addItem(label, value)
        values = [v for _label, v in filters]
        self.client.setCurrentIndex(values.index(self.series.client) if self.series.client in values else 0)
        self.client.blockSignals(False)
        if self.series.client not in values:  # the chosen client is gone (removed, nothing spent)
            self.controller.set_spend_client(None)

    def redraw(self) -> None:
        self._fill_clients()
        spent, always, share = self.series.totals()
        n = len(self.series.points)
        if n:
            saved = always - spent
            pct = f" ({float(saved / always) * 100:.0f} %)" if always > 0 else ""
            self.totals.setText(
                f"<b>{n}</b> answer{'s' if n != 1 else ''} · <b>{(share or 0.0) * 100:.0f} %</b> strong · spent "
                f"<b>${float(spent):.4f}</b> · always strong would cost <b>${float(always):.4f}</b> · "
                f"saved <b>${float(saved):.4f}</b>{pct}"
            )
        elif self.client.currentIndex() > 0:
            self.totals.setText(f"No answers for {self.client.currentText()} in this period yet.")
        else:
            self.totals.setText("No answers in this period yet. The chart updates the moment an answer completes.")
        if self.share_plot is None or not self.isVisible():
            return
        xs, ys = self.series.share_series()
        self.share_curve.setData(xs, ys)
        sx, s_spent, s_always = self.series.spend_series()
        self.spent_curve.setData(sx, s_spent)
        self.always_curve.setData(sx, s_always)
        if xs:
            # at least ten minutes wide, so the time axis reads as clock times
            lo, hi = xs[0], xs[-1]
            if hi - lo < 600:
                pad = (600 - (hi - lo)) / 2
                lo, hi = lo - pad, hi + pad
            for w in (self.share_plot, self.spend_plot):
                w.setXRange(lo, hi, padding=0.03)
        self.share_plot.setYRange(0, 100)
        self.spend_plot.enableAutoRange(axis="y")

    def _on_hover(self, w, pos) -> None:
        xs, ys = self.series.share_series()
        if not xs:
            return
        vb = w.getPlotItem().vb
        if not w.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()
        i = bisect.bisect_left(xs, x)
        if i >= len(xs) or (i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x)):
            i -= 1
        i = max(0, min(i, len(xs) - 1))
        self.show_point(i)
        w._vline.setPos(xs[i])
        w._vline.show()

    def show_point(self, i: int) -> str:
        """Describe the i-th answer of the period (what hovering shows)."""
        xs, ys = self.series.share_series()
        _, spent, always = self.series.spend_series()
        p = self.series.points[i]
        when = datetime.fromtimestamp(xs[i]).strftime("%d %b %H:%M:%S")
        where = "strong" if p.to_strong else ("weak" if p.choice in ("weak", "fixed") else p.choice)
        text = (f"{when}: answer {i + 1} went {where}, cost ${float(p.cost):.5f}; "
                f"strong share {ys[i]:.0f} %; spent ${spent[i]:.4f} vs ${always[i]:.4f} always strong")
        self.hover.setText(text)
        return text
