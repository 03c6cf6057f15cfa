"""The original pyliveupdate's import path: ``from pyliveupdatescripts import UpdateStub``, and the tools a
controller command can use (``FP``, ``LU``, ...)."""

from pyliveupdate.stub import UpdateStub
from pyliveupdate.updates import LU, UpdateManager

from .funcprofiler import FP, FuncProfiler
from pyliveupdate.debuggers import FD, LD, VD, FuncDebugger, LineDebugger, VarDebugger
from pyliveupdate.lineprofiler import LP, LineProfiler

from pyliveupdate.update import Instrument, Redefine, patch

__all__ = [
    "UpdateStub", "FP", "FuncProfiler", "LP", "FD", "LD", "VD", "LU", "UpdateManager", "Instrument", "Redefine",
    "LineProfiler", "FuncDebugger", "LineDebugger", "VarDebugger", "patch",
]
