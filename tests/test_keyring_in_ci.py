"""In CI the keyring is always there: a keyring test that would skip because no Secret
Service answers fails instead, saying why. Each case runs pytest in a child process with
the fixtures of tests/conftest.py and keyring's own ``fail`` backend standing in for a
machine with no Secret Service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEEDS_KEYRING = '''
import pytest

def test_uses_the_keystore(keystore):
    keystore.set("ci-probe", "sk-test")
    assert keystore.get("ci-probe") == "sk-test"

def test_uses_an_isolated_keystore(isolated_keystore):
    assert isolated_keystore.get("openai") is None

@pytest.mark.keyring
def test_only_marked():
    pass
'''


def run_pytest(tmp_path: Path, *, ci: str | None, keyring_backend: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs_keyring.py").write_text(NEEDS_KEYRING)
    env = dict(os.environ)
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    if keyring_backend is not None:
        env["PYTHON_KEYRING_BACKEND"] = keyring_backend
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rA",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


NO_SECRET_SERVICE = "keyring.backends.fail.Keyring"


def test_in_ci_a_missing_keyring_fails_every_keyring_test(tmp_path: Path):
    r = run_pytest(tmp_path, ci="true", keyring_backend=NO_SECRET_SERVICE)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "3 errors" in r.stdout or "3 failed" in r.stdout, r.stdout
    assert "skipped" not in r.stdout.splitlines()[-1], r.stdout
    assert r.stdout.count("CI is set, so the OS keyring must be there") >= 3, r.stdout
    assert "scripts/with-keyring.sh" in r.stdout  # and what to do about it


def test_outside_ci_a_missing_keyring_skips_with_the_reason(tmp_path: Path):
    r = run_pytest(tmp_path, ci=None, keyring_backend=NO_SECRET_SERVICE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 skipped" in r.stdout, r.stdout
    assert "no usable OS keyring" in r.stdout and "scripts/with-keyring.sh" in r.stdout


def test_ci_false_is_not_ci(tmp_path: Path):
    r = run_pytest(tmp_path, ci="false", keyring_backend=NO_SECRET_SERVICE)
    assert r.returncode == 0 and "3 skipped" in r.stdout, r.stdout


@pytest.mark.keyring
def test_in_ci_with_the_keyring_the_tests_run(tmp_path: Path):
    r = run_pytest(tmp_path, ci="true", keyring_backend=None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout, r.stdout
