"""PySide6 checks each newly imported module for ``from __feature__ import ...``; its own
check keeps the module's whole source in ``linecache`` (about 20 MB for what the window
loads on demand). With ``qtcompat.read_sources_lightly`` the answer is the same and nothing
is kept. Run in a child process so the modules and the hook are fresh."""

from __future__ import annotations

from pathlib import Path

from tests.child_process import driver_findings

DRIVER = r"""
import json, linecache, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
if sys.argv[1] == "light":
    from desktop.ui.qtcompat import read_sources_lightly
    assert read_sources_lightly()
sys.path.insert(0, sys.argv[2])
import plain_module          # a module that never mentions Qt
import feature_module        # one that switches on PySide6's snake_case feature
import qt_module             # one that uses PySide6 as it comes, imported after it
print(json.dumps({
    "cached": sorted(f.rsplit("/", 1)[-1] for f in linecache.cache if f.endswith("_module.py")),
    "snake_case": feature_module.SNAKE,
    "camel_case": qt_module.camel(),
}))
"""


def _run(mode: str, tmp_path: Path) -> dict:
    (tmp_path / "plain_module.py").write_text("VALUE = 1\n" + "# filler line\n" * 20000)
    (tmp_path / "feature_module.py").write_text(
        "from __feature__ import snake_case  # noqa\n"
        "from PySide6.QtWidgets import QLabel\n"
        "SNAKE = hasattr(QLabel, 'set_text') and not hasattr(QLabel, 'setText')\n"
    )
    (tmp_path / "qt_module.py").write_text(
        "from PySide6.QtWidgets import QLabel\n"
        "def camel():\n"
        "    return hasattr(QLabel, 'setText') and not hasattr(QLabel, 'set_text')\n"
    )
    return driver_findings(DRIVER, mode, str(tmp_path), QT_QPA_PLATFORM="offscreen")


def test_new_modules_are_checked_without_keeping_their_source(tmp_path):
    upstream = _run("upstream", tmp_path)
    assert "plain_module.py" in upstream["cached"]  # what the work-around is for
    light = _run("light", tmp_path)
    assert light["cached"] == []


def test_each_module_still_sees_the_qt_names_it_asked_for(tmp_path):
    seen = _run("light", tmp_path)
    assert seen["snake_case"] is True  # the module that switched the feature on
    assert seen["camel_case"] is True  # a module using PySide6 plainly is not switched with it
