"""The tools a controller's command finds in its namespace: ``FP`` (the function profiler), ``LU`` (the
updates: list, revert, apply again), the modifications still to come (``LP``, ``FD``, ``LD``, ``VD``,
``Instrument``, ``Redefine``: they answer "not available yet") and ``UpdateStub``. ``pyliveupdatescripts``
re-exports this list under the original's import path; the package itself never imports that shim."""

from ..stub import UpdateStub
from ..updates import LU, UpdateManager
from .funcprofiler import FP, FuncProfiler
from .pending import FD, LD, LP, VD, Instrument, Redefine

__all__ = [
    "UpdateStub", "FP", "FuncProfiler", "LP", "FD", "LD", "VD", "LU", "UpdateManager", "Instrument", "Redefine",
]
