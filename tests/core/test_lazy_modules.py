"""A stand-in module costs nothing until a name of it is used, and then is the real module."""

from __future__ import annotations

import importlib
import sys

import pytest

from desktop.core.lazy_modules import stand_in

MODULE = '''
import builtins
builtins.routedesk_lazy_runs = getattr(builtins, "routedesk_lazy_runs", 0) + 1
ANSWER = 42
'''


@pytest.fixture
def module_on_path(tmp_path, monkeypatch):
    import builtins

    (tmp_path / "routedesk_lazy_probe.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    builtins.routedesk_lazy_runs = 0
    yield "routedesk_lazy_probe"
    sys.modules.pop("routedesk_lazy_probe", None)
    del builtins.routedesk_lazy_runs


def test_the_module_runs_at_the_first_use_of_a_name_and_replaces_the_stand_in(module_on_path):
    import builtins

    lazy = stand_in(module_on_path)
    assert lazy is not None
    sys.modules[module_on_path] = lazy
    imported = importlib.import_module(module_on_path)  # what a library's import statement gets
    assert imported is lazy
    assert lazy.__file__.endswith("routedesk_lazy_probe.py")  # looked at, not used
    with pytest.raises(AttributeError):
        lazy.__path__  # noqa: B018  (PySide6's import hook asks such things of every module)
    assert builtins.routedesk_lazy_runs == 0
    assert lazy.ANSWER == 42
    assert builtins.routedesk_lazy_runs == 1
    real = sys.modules[module_on_path]
    assert real is not lazy and real.ANSWER == 42
    assert lazy.ANSWER == 42 and builtins.routedesk_lazy_runs == 1  # once


def test_nothing_to_stand_in_for_a_module_loaded_already_or_missing():
    import json  # noqa: F401

    assert stand_in("json") is None
    assert stand_in("routedesk_no_such_module") is None
