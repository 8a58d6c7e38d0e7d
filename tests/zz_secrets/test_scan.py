"""Runs last (pytest collects tests/ directories alphabetically; keep this one "zz_"):
after everything else in the session has stored, streamed, failed, crashed and logged,
no key material is on disk where RouteDesk or its tests write - the session's temporary
folders (every test's ROUTEDESK_HOME and database lives there), files created in the
system temp folder during the session, and RouteDesk's own data folder - and none is in a
log record of this session.

"Key material" is every API-key-shaped literal the test suite uses (the keys it stores in
the keyring, sends to the simulator, or plants in error bodies to prove they are redacted),
found by scanning tests/ and desktop/ for the providers' key shapes, and every local-endpoint
client token issued during the session (tests/endpoint keeps them in memory only).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHAPES = re.compile(
    r"""["']((?:sk-ant-|sk-or-|sk-proj-|sk-)[A-Za-z0-9_\-]{8,}|gsk_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_\-]{20,}|xai-[A-Za-z0-9]{16,}|rdk-[A-Za-z0-9_\-]{20,})["']"""
)
MAX_BYTES = 50 * 1024 * 1024
#: Not RouteDesk's or its tests' files: the job runner's logs, other pytest sessions (ours is
#: scanned through its own basetemp), hypothesis' example database, caches.
SKIP_DIRS = ("bash_jobs", "bash_tool", "pytest-of-", ".hypothesis", "__pycache__", ".pytest_cache")


def key_material() -> set[str]:
    keys: set[str] = set()
    for base in (ROOT / "tests", ROOT / "desktop"):
        for path in base.rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue
            for m in SHAPES.finditer(path.read_text(encoding="utf-8", errors="replace")):
                k = m.group(1)
                if not k.endswith(("-", "_")):  # a prefix used to build keys, not a key
                    keys.add(k)
    return keys | issued_client_tokens()


def issued_client_tokens() -> set[str]:
    """The endpoint's client tokens created in this session (shown once, stored as hashes)."""
    conftest = sys.modules.get("tests.endpoint.conftest")
    return set(getattr(conftest, "ISSUED", ()))


def session_started() -> float:
    try:
        return os.stat(f"/proc/{os.getpid()}").st_ctime - 1
    except OSError:
        return time.time() - 3600


def files_under(root: Path, since: float | None = None):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if ".git" in dirnames or ".git" in filenames:
            dirnames[:] = []  # a source checkout (a CI clone, say): its files are code, not data
            continue
        dirnames[:] = [d for d in dirnames if not any(d.startswith(s) for s in SKIP_DIRS)]
        for name in filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            if not p.is_file() or p.is_symlink() or st.st_size > MAX_BYTES:
                continue
            if since is not None and max(st.st_mtime, st.st_ctime) < since:
                continue
            yield p


def find(paths, keys: set[str]) -> list[tuple[str, str]]:
    needles = [(k, k.encode()) for k in keys]
    hits = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        for k, b in needles:
            # also UTF-16 (Windows files) and as it would appear JSON-escaped it is the same ASCII
            if b in data or k.encode("utf-16-le") in data:
                hits.append((str(p), k[:8] + "…"))
    return hits


@pytest.fixture(scope="module")
def keys():
    found = key_material()
    assert "sk-test-key" in found and len(found) >= 5, found  # the shapes still match the suite's keys
    return found


def test_the_scan_finds_a_planted_key(tmp_path, keys):
    """The scan would fail the run: a key written anywhere under a scanned folder is found,
    in UTF-8 and in UTF-16 (then removed, so the real scans below stay clean)."""
    key = sorted(keys)[0]
    a, b = tmp_path / "leak.log", tmp_path / "deep" / "leak.db"
    b.parent.mkdir()
    a.write_text(f"2026-01-01 DEBUG sent {key}\n")
    b.write_bytes(b"\x00" * 100 + key.encode("utf-16-le"))
    try:
        assert sorted(p for p, _ in find(files_under(tmp_path), keys)) == sorted([str(a), str(b)])
    finally:
        a.unlink()
        b.unlink()


def test_client_tokens_are_scanned_when_the_endpoint_tests_ran(keys):
    """A session that ran tests/endpoint issued tokens; each is looked for like a key."""
    if "tests.endpoint.conftest" in sys.modules:
        issued = issued_client_tokens()
        assert issued and issued <= keys and all(t.startswith("rdk-") for t in issued)


def test_no_key_material_in_this_sessions_temporary_folders(tmp_path_factory, keys):
    base = tmp_path_factory.getbasetemp()
    hits = find(files_under(base), keys)
    assert hits == [], f"key material on disk under {base}: {hits}"


def test_no_key_material_in_temp_files_created_during_the_session(keys):
    tmp = Path(tempfile.gettempdir())
    hits = find(files_under(tmp, since=session_started()), keys)
    assert hits == [], f"key material in temporary files: {hits}"


def test_no_key_material_in_routedesk_data_folder(keys, monkeypatch):
    monkeypatch.delenv("ROUTEDESK_HOME", raising=False)
    import platformdirs

    from desktop.core.paths import data_dir

    places = {data_dir(), Path(platformdirs.user_log_dir("RouteDesk", appauthor=False)),
              Path(platformdirs.user_cache_dir("RouteDesk", appauthor=False)),
              Path(platformdirs.user_config_dir("RouteDesk", appauthor=False))}
    hits = []
    for place in places:
        if place.exists():
            hits += find(files_under(place), keys)
    assert hits == [], hits


def test_no_key_material_in_this_sessions_log_records(keys):
    """Every log record emitted during the session, captured by the recorder below."""
    records = _Recorder.instance().lines
    leaked = [(line[:120], k[:8]) for line in records for k in keys if k in line]
    assert leaked == []
    assert not [line for line in records if re.search(r"(?i)(authorization|x-api-key)\s*[:=]\s*\S", line)]


class _Recorder(logging.Handler):
    """Installed at import of this module's conftest (session start): keeps every record's
    formatted text (level DEBUG, all loggers: httpx, httpcore, keyring, RouteDesk)."""

    _inst: _Recorder | None = None

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    @classmethod
    def instance(cls) -> _Recorder:
        if cls._inst is None:
            cls._inst = cls()
        return cls._inst

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.lines.append(str(record.msg))


def _install_recorder() -> None:
    """At collection (before any test runs): record every log record of the session, with
    the HTTP stack and RouteDesk at DEBUG so a logged header would be caught."""
    rec = _Recorder.instance()
    if rec not in logging.getLogger().handlers:
        logging.getLogger().addHandler(rec)
        for name in ("httpx", "httpcore", "desktop", "keyring", "secretstorage"):
            lg = logging.getLogger(name)
            if lg.level == logging.NOTSET or lg.level > logging.DEBUG:
                lg.setLevel(logging.DEBUG)


_install_recorder()
