"""The tools a controller's command finds in its namespace: ``FP`` (the function profiler), ``LP`` (the line
profiler), ``FD``/``LD``/``VD`` (the debuggers), ``LU`` (the updates: list, revert, apply again), the custom
modifications (``Instrument``, ``Redefine``, ``patch``) and ``UpdateStub``, each also under the original's class
name. ``pyliveupdatescripts`` re-exports this list under the original's import path; the package itself never
imports that shim."""

from ..debuggers import FD, LD, VD, FuncDebugger, LineDebugger, VarDebugger
from ..lineprofiler import LP, LineProfiler
from ..stub import UpdateStub
from ..update import Instrument, Redefine, patch
from ..updates import LU, UpdateManager
from .funcprofiler import FP, FuncProfiler

__all__ = [
    "UpdateStub", "FP", "FuncProfiler", "LP", "LineProfiler", "FD", "FuncDebugger", "LD", "LineDebugger", "VD",
    "VarDebugger", "LU", "UpdateManager", "Instrument", "Redefine", "patch",
]
