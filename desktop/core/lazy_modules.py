"""Stand-ins for modules a library imports but RouteDesk may never use.

A library that imports something at its own import (genai-prices its update client,
pyqtgraph Qt's OpenGL classes) makes every process pay for it, in memory and time, even
when the feature that needs it is never used. ``stand_in`` makes a module object that
imports the real module the first time one of its names is used, so nothing is lost:
what asks for a name gets the real one, a moment later.

The standard library's ``importlib.util.LazyLoader`` does not do this on Python 3.11: the
import system reads the module's ``__spec__`` right after loading it, which starts the
real import at the ``import`` statement itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["stand_in"]


def stand_in(name: str) -> ModuleType | None:
    """A module that imports ``name`` at its first attribute use, then answers from it.

    None when ``name`` is loaded already (nothing to save) or not installed (the real
    import reports that, where it is made). The caller puts it where the library will
    find it (``sys.modules[name]``); it takes itself out of ``sys.modules`` when it loads,
    so that later imports get the real module.
    """
    spec = None if name in sys.modules else importlib.util.find_spec(name)
    if spec is None:
        return None
    module = ModuleType(name, "imported at its first use")
    module.__spec__ = spec
    module.__file__ = spec.origin

    def load(attr: str) -> Any:
        if attr.startswith("__"):  # looking at the module (PySide6's import hook does) is not using it
            raise AttributeError(attr)
        if sys.modules.get(name) is module:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)

    module.__getattr__ = load  # type: ignore[method-assign]
    return module
