"""Pytest fixtures for the simulator. Use from any conftest.py:

    from tests.simulator.fixtures import sim  # noqa: F401
"""

from __future__ import annotations

import pytest

from .server import Simulator


@pytest.fixture
def sim():
    """A fresh simulator on a free port, stopped (and its stalls released) after the test."""
    s = Simulator()
    s.start()
    try:
        yield s
    finally:
        s.stop()
