"""Where RouteDesk's bundled files (icons, router weights, the .desktop file) live.

Use ``resource_path("icons", "routedesk.svg")`` rather than paths built from
``__file__``: it works the same from a source checkout (``<repo>/resources``), an
installed-from-source run, and the frozen app PyInstaller builds
(``sys._MEIPASS/resources``; inside a macOS ``.app`` that is ``Contents/Frameworks``,
where PyInstaller links the bundle's ``Contents/Resources``).
``ROUTEDESK_RESOURCES`` overrides the folder (tests, unusual installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["resource_path", "resources_dir", "is_frozen"]

_RESOURCES = "resources"


def is_frozen() -> bool:
    """True inside the PyInstaller-built app."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path:
    """The folder holding RouteDesk's resources (it may not exist in a broken install)."""
    override = os.environ.get("ROUTEDESK_RESOURCES")
    if override:
        return Path(override).expanduser()
    if is_frozen():
        return Path(sys._MEIPASS) / _RESOURCES  # type: ignore[attr-defined]
    # a source checkout: resources/ beside desktop/
    checkout = Path(__file__).resolve().parents[2] / _RESOURCES
    if checkout.is_dir():
        return checkout
    # an installed package (`pip install .`): pyproject maps resources/ to desktop/_resources
    return Path(__file__).resolve().parents[1] / "_resources"


def resource_path(*parts: str) -> Path:
    """``resources/<parts...>`` as an absolute path; it is not checked for existence."""
    return resources_dir().joinpath(*parts)
