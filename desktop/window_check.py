"""Can the window start here? Checked before Qt is asked to, because Qt's own answer on a
Linux desktop without its X11 libraries is "Could not load the Qt platform plugin xcb" and
an abort with a core dump, naming no package.

On Linux, when Qt would use its ``xcb`` platform (``QT_QPA_PLATFORM`` is ``xcb``, or unset
with ``DISPLAY`` set and no Wayland session), every library that plugin loads is looked
for; any missing one is named with the Debian/Ubuntu and Fedora packages that install it
(``XCB_LIBRARIES``, from ``ldd`` of PySide6's ``platforms/libqxcb.so`` and Qt's "Qt for
X11 Requirements" list). With no ``DISPLAY`` and no ``WAYLAND_DISPLAY`` there is no
desktop to open a window on, and that is said too. No Qt is imported here.

Test hook: ``ROUTEDESK_REQUIRE_LIBS`` (comma-separated sonames) adds libraries to the
list, so a test can name one that does not exist and see the message and exit status
through the real ``routedesk`` entry point.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Library", "XCB_LIBRARIES", "WINDOW_CANT_START", "missing_libraries", "window_problem", "can_load"]

#: The exit status when the window cannot start (1 is a command's failure, 2 argparse's).
WINDOW_CANT_START = 3
#: The test hook: extra sonames the check requires (see the module's docstring).
EXTRA_ENV = "ROUTEDESK_REQUIRE_LIBS"


@dataclass(frozen=True)
class Library:
    soname: str
    debian: str | None  # the Debian/Ubuntu package that installs it
    fedora: str | None  # the Fedora package


XCB_LIBRARIES: tuple[Library, ...] = (
    Library("libxcb.so.1", "libxcb1", "libxcb"),
    Library("libX11.so.6", "libx11-6", "libX11"),
    Library("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    Library("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    Library("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    Library("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    Library("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    Library("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    Library("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    Library("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    Library("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    Library("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    Library("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    Library("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    Library("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    Library("libxcb-xinerama.so.0", "libxcb-xinerama0", "libxcb"),
    Library("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    Library("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    Library("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    Library("libEGL.so.1", "libegl1", "libglvnd-egl"),
    Library("libGL.so.1", "libgl1", "libglvnd-glx"),
    Library("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    Library("libfreetype.so.6", "libfreetype6", "freetype"),
    Library("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    Library("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)


def _bundled_dirs() -> list[Path]:
    """PySide6's own library folder (a wheel may carry some of these), found without
    importing it."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return []
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return [Path(r) / "Qt" / "lib" for r in roots]


def can_load(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` as Qt would (the system's search path,
    then PySide6's own folder)."""
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        pass
    for folder in _bundled_dirs():
        path = folder / soname
        if path.exists():
            try:
                ctypes.CDLL(str(path))
                return True
            except OSError:
                return False
    return False


def missing_libraries(libraries: Sequence[Library] = XCB_LIBRARIES,
                      load: Callable[[str], bool] = can_load) -> list[Library]:
    return [lib for lib in libraries if not load(lib.soname)]


def _uses_xcb(env: Mapping[str, str]) -> bool:
    platform = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def _extra(env: Mapping[str, str]) -> list[Library]:
    names = [n.strip() for n in env.get(EXTRA_ENV, "").split(",") if n.strip()]
    return [Library(n, None, None) for n in names]


def _install_line(label: str, command: str, packages: list[str | None]) -> str | None:
    known = sorted({p for p in packages if p})
    return f"  {label:<15} sudo {command} {' '.join(known)}" if known else None


def window_problem(env: Mapping[str, str] | None = None, *, platform: str | None = None,
                   libraries: Sequence[Library] = XCB_LIBRARIES,
                   load: Callable[[str], bool] = can_load) -> str | None:
    """What stops the window from starting, in plain words with the commands that fix
    it; None when nothing is known to."""
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if qpa and qpa.split(";")[0].split(":")[0] not in ("xcb", "wayland", "wayland-egl"):
        return None  # offscreen, vnc, eglfs...: no desktop needed
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("RouteDesk's window needs a graphical desktop, and none was found here (neither DISPLAY nor "
                "WAYLAND_DISPLAY is set).\n"
                "Start it from a desktop session (over SSH: ssh -X, or set DISPLAY), or use the command line "
                "without a window: routedesk --help")
    if not _uses_xcb(env):
        return None
    missing = missing_libraries([*libraries, *_extra(env)], load)
    if not missing:
        return None
    lines = ["RouteDesk's window can't start: Qt needs system libraries that aren't installed:",
             "  " + ", ".join(lib.soname for lib in missing)]
    installs = [line for line in (
        _install_line("Debian/Ubuntu:", "apt-get install", [lib.debian for lib in missing]),
        _install_line("Fedora:", "dnf install", [lib.fedora for lib in missing]),
    ) if line]
    if installs:
        lines += ["Install them, then start RouteDesk again:", *installs]
    unknown = [lib.soname for lib in missing if not lib.debian and not lib.fedora]
    if unknown:
        lines.append("Your distribution's package search finds the package for " + ", ".join(unknown)
                     + " (for example: apt-file search NAME, or dnf provides '*/NAME').")
    lines.append("The command line works without them: routedesk --help")
    return "\n".join(lines)
