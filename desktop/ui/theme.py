"""Colours derived from the system palette (light or dark), icons, and formatting helpers.

Nothing here hard-codes a light or dark theme: every colour is the palette's own or a
blend of two palette roles, and the stylesheet is rebuilt when the palette changes.
Sizes are in font units (em) so 200 % scaling stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

from desktop.core.resources import resource_path

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "set_icon", "refresh_icons", "mix", "stylesheet", "fmt_cost", "fmt_tokens", "fmt_ms", "icon", "status_color",
    "ICON_DIR",
]

ICON_DIR = resource_path("icons")


def mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def _hex(c: QColor) -> str:
    return c.name(QColor.NameFormat.HexRgb)


def is_dark(pal: QPalette | None = None) -> bool:
    pal = pal or QApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def status_color(status: str, pal: QPalette | None = None) -> QColor:
    dark = is_dark(pal)
    return QColor(
        {
            "ok": "#3fb950" if dark else "#1a7f37",
            "degraded": "#d29922" if dark else "#9a6700",
            "down": "#f85149" if dark else "#cf222e",
            "checking": "#58a6ff" if dark else "#0969da",
        }.get(status, "#8b949e" if dark else "#6e7781")
    )


def stylesheet(pal: QPalette) -> str:
    base = pal.color(QPalette.ColorRole.Base)
    window = pal.color(QPalette.ColorRole.Window)
    text = pal.color(QPalette.ColorRole.Text)
    hl = pal.color(QPalette.ColorRole.Highlight)
    dark = is_dark(pal)
    user_bg = mix(base, hl, 0.22 if dark else 0.13)
    answer_bg = base
    border = mix(window, text, 0.18)
    muted = mix(base, text, 0.6)
    code_bg = mix(base, text, 0.07 if dark else 0.045)
    err = status_color("down", pal)
    warn = status_color("degraded", pal)
    err_bg = mix(base, err, 0.12)
    warn_bg = mix(base, warn, 0.12)
    return f"""
QFrame#userBubble {{ background: {_hex(user_bg)}; border-radius: 0.7em;
    border: 1px solid {_hex(mix(user_bg, hl, 0.35))}; }}
QFrame#answer {{ background: {_hex(answer_bg)}; border-radius: 0.7em; border: 1px solid {_hex(border)}; }}
QLabel#roleLabel {{ color: {_hex(muted)}; font-weight: 600; }}
QLabel#meta, QLabel#muted {{ color: {_hex(muted)}; }}
QLabel#details {{ color: {_hex(text)}; background: {_hex(code_bg)}; border-radius: 0.4em; padding: 0.4em; }}
QFrame#codeBlock {{ background: {_hex(code_bg)}; border-radius: 0.4em; border: 1px solid {_hex(border)}; }}
QFrame#codeBlock QPlainTextEdit {{ background: transparent; border: none; }}
QLabel#codeLang {{ color: {_hex(muted)}; }}
QFrame#errorCard {{ background: {_hex(err_bg)}; border: 1px solid {_hex(err)}; border-radius: 0.6em; }}
QFrame#noticeCard {{ background: {_hex(warn_bg)}; border: 1px solid {_hex(warn)}; border-radius: 0.6em; }}
QLabel#cardTitle {{ font-weight: 700; }}
QLabel#statusTag {{ color: {_hex(warn)}; font-weight: 600; }}
QTextBrowser#prose {{ background: transparent; border: none; }}
QFrame#welcomeCard {{ background: {_hex(base)}; border: 1px solid {_hex(border)}; border-radius: 0.8em; }}
QLabel#sectionTitle {{ font-weight: 700; }}
QFrame#routingBar {{ border-top: 1px solid {_hex(border)}; }}
QToolButton#action {{ border: none; padding: 0.15em 0.4em; color: {_hex(muted)}; }}
QToolButton#action:hover {{ color: {_hex(text)}; background: {_hex(code_bg)}; border-radius: 0.3em; }}
QToolButton#action:checked {{ color: {_hex(hl)}; }}
"""


def fmt_cost(cost: Decimal | None, source: str | None = None) -> str:
    if cost is None:
        return "price unknown"
    if cost == 0:
        return "free" if source in (None, "local") else "$0"
    c = float(cost)
    if c < 0.01:
        return f"${c:.4f}".rstrip("0").rstrip(".") if c >= 0.0001 else f"${c:.6f}".rstrip("0")
    return f"${c:,.2f}" if c >= 1 else f"${c:.3f}"


def fmt_tokens(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


_ICON_CACHE: dict[tuple[str, str], QIcon] = {}


def icon(name: str, color: QColor | None = None) -> QIcon:
    """An icon from resources/icons (SVG, drawn with ``currentColor`` recoloured to the palette)."""
    color = color or QApplication.palette().color(QPalette.ColorRole.WindowText)
    key = (name, color.name())
    cached = _ICON_CACHE.get(key)
    if cached is not None:
        return cached
    ic = QIcon()
    pngs = sorted(ICON_DIR.glob(f"{name}-*.png"))
    if pngs:  # the app icon ships pre-rendered sizes: QIcon loads them lazily (no SVG work at start-up)
        for png in pngs:
            ic.addFile(str(png))
        _ICON_CACHE[key] = ic
        return ic
    path = ICON_DIR / f"{name}.svg"
    if path.exists():
        from PySide6.QtCore import QByteArray
        from PySide6.QtSvg import QSvgRenderer

        svg = path.read_text(encoding="utf-8").replace("currentColor", color.name())
        renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
        if renderer.isValid():
            for size in (16, 20, 24, 32, 48, 64):
                pm = QPixmap(size, size)
                pm.fill(QColor(0, 0, 0, 0))  # transparent (Qt.GlobalColor would build every Qt enum)
                p = QPainter(pm)
                p.setRenderHint(QPainter.RenderHint.Antialiasing)
                renderer.render(p)
                p.end()
                ic.addPixmap(pm)
    if ic.isNull():
        from PySide6.QtCore import Qt

        pm = QPixmap(16, 16)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setPen(color)
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, name[:1].upper())
        p.end()
        ic = QIcon(pm)
    _ICON_CACHE[key] = ic
    return ic


def set_icon(obj, name: str) -> None:
    """Give a button or action a palette-coloured icon that follows palette changes."""
    obj.setProperty("rd_icon", name)
    obj.setIcon(icon(name))


def refresh_icons(root) -> None:
    """Recolour every icon set with ``set_icon`` under ``root`` (after a palette change)."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QAbstractButton

    for obj in [root, *root.findChildren(QAbstractButton), *root.findChildren(QAction)]:
        name = obj.property("rd_icon")
        if name:
            obj.setIcon(icon(name))
