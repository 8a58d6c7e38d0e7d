"""PyInstaller runtime hook: a stand-in for PySide6.QtOpenGL in the frozen app.

pyqtgraph (the spend chart) imports PySide6.QtOpenGL at start-up but uses it only in its
OpenGL drawing mode, which RouteDesk does not turn on. The real module is 9 MB of OpenGL
function bindings, so the bundle leaves it out (packaging/routedesk.spec) and this hook
answers the import with a module whose every attribute raises ImportError with a plain
reason. If the real module is bundled after all, it wins: this finder is asked last.
"""

import importlib.abc
import importlib.machinery
import sys
import types

_NAME = "PySide6.QtOpenGL"


class _LeftOut(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise ImportError(
            f"{_NAME}.{attr} is not in the RouteDesk app: the bundle leaves out Qt's OpenGL "
            "bindings (pyqtgraph's OpenGL mode is not supported)"
        )


class _LeftOutFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _NAME:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return _LeftOut(spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.append(_LeftOutFinder())
