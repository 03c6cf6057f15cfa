"""Modifications of the original that come after the FuncProfiler (LineProfiler, the debuggers, Instrument,
Redefine). They exist in the command namespace so a command naming them gets a clear answer."""

from __future__ import annotations


class NotYetAvailable:
    def __init__(self, name: str, what: str) -> None:
        self._name = name
        self._what = what

    def __getattr__(self, attr):
        raise NotImplementedError(f"{self._name} ({self._what}) is not available in this version of the stub")

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{self._name} ({self._what}) is not available in this version of the stub")

    def __repr__(self) -> str:
        return f"<{self._name}: {self._what}, not available yet>"


LP = NotYetAvailable("LP", "LineProfiler")
FD = NotYetAvailable("FD", "FuncDebugger")
LD = NotYetAvailable("LD", "LineDebugger")
VD = NotYetAvailable("VD", "VarDebugger")
Instrument = NotYetAvailable("Instrument", "custom instrumentation")
Redefine = NotYetAvailable("Redefine", "function redefinition")
