"""When the window cannot start (no X11 libraries for Qt's xcb plugin, no desktop at all),
``routedesk`` says which packages to install, or that there is no desktop, and exits 3
instead of Qt's "Could not load the Qt platform plugin xcb" abort and core dump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.window_check import WINDOW_CANT_START, XCB_LIBRARIES, Library, can_load, window_problem

ROOT = Path(__file__).resolve().parents[1]
ABSENT = "libroutedesk-test-absent.so.0"


def gone(*sonames: str):
    return lambda soname: soname not in sonames


def test_missing_libraries_are_named_with_the_commands_that_install_them():
    text = window_problem({"DISPLAY": ":0"}, platform="linux",
                          load=gone("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-xkb.so.1"))
    assert text is not None
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-xkb.so.1" in text
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-xkb1" in text
    assert "sudo dnf install libxcb xcb-util-cursor xcb-util-wm" in text
    assert "routedesk --help" in text


def test_the_list_covers_what_the_issue_found_missing_on_a_minimal_debian():
    debian = {lib.debian for lib in XCB_LIBRARIES}
    assert debian >= {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libgl1", "libxcb-icccm4",
                      "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0",
                      "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1", "libglib2.0-0"}
    assert all(lib.fedora for lib in XCB_LIBRARIES)


@pytest.mark.parametrize(("env", "platform"), [
    ({"DISPLAY": ":0"}, "darwin"),  # not Linux: Qt's cocoa plugin
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),  # no desktop needed
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux"),  # a Wayland session: not xcb
])
def test_nothing_is_checked_where_qt_would_not_use_xcb(env, platform):
    assert window_problem(env, platform=platform, load=lambda _s: False) is None


def test_a_machine_with_every_library_passes():
    assert window_problem({"DISPLAY": ":0"}, platform="linux", load=lambda _s: True) is None


def test_no_desktop_at_all_is_said_plainly():
    text = window_problem({}, platform="linux", load=lambda _s: True)
    assert text is not None and "needs a graphical desktop" in text and "DISPLAY" in text


def test_the_real_loader_tells_present_from_absent():
    assert can_load("libc.so.6") and not can_load(ABSENT)
    assert window_problem({"DISPLAY": ":0"}, platform="linux",
                          libraries=[Library("libc.so.6", "libc6", "glibc")]) is None


def start(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    """``routedesk`` with no arguments (the window), as a user starts it."""
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-m", "desktop"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_the_real_entry_point_names_a_missing_library_and_exits_3(tmp_path):
    r = start({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb", "ROUTEDESK_REQUIRE_LIBS": ABSENT,
               "ROUTEDESK_HOME": str(tmp_path)})
    assert r.returncode == WINDOW_CANT_START == 3
    assert "Qt needs system libraries that aren't installed" in r.stderr and ABSENT in r.stderr
    assert "Could not load the Qt platform plugin" not in r.stderr and "core dumped" not in r.stderr
    assert "Traceback" not in r.stderr


def test_the_real_entry_point_without_a_desktop_says_so(tmp_path):
    r = start({"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None,
               "ROUTEDESK_HOME": str(tmp_path)})
    assert r.returncode == 3
    assert "needs a graphical desktop" in r.stderr and "Traceback" not in r.stderr
