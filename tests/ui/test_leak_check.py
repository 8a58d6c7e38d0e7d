"""The UI fixtures fail a test that leaves a top-level widget alive, naming its class, and
the next test starts without it. Runs pytest in a child process with tests/ui/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TESTS = '''
from PySide6.QtWidgets import QDialog, QLabel

kept = []

def test_leaves_a_dialog_open(qapp):
    d = QDialog()
    d.show()
    kept.append(d)  # still referenced when the test ends: alive, on screen

def test_hands_its_widget_to_qtbot(qtbot):
    label = QLabel("closed by qtbot")
    qtbot.addWidget(label)
    label.show()
    kept.append(label)

def test_starts_clean(qapp):
    assert [type(w).__name__ for w in qapp.topLevelWidgets()] == []
'''


def test_a_leaked_widget_fails_the_test_that_left_it(tmp_path: Path):
    (tmp_path / "test_widgets.py").write_text(TESTS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.ui.conftest", "-p", "no:cacheprovider", "-rA",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "ERROR test_widgets.py::test_leaves_a_dialog_open" in out, out
    assert "leaked 1 top-level widget(s): QDialog" in out, out
    assert "PASSED test_widgets.py::test_hands_its_widget_to_qtbot" in out, out
    assert "PASSED test_widgets.py::test_starts_clean" in out, out
