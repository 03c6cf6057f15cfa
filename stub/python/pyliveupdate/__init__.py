"""pylu's in-process stub: live profiling (and, next, debugging and patching) of a running Python program.

Add two lines to the program::

    from pyliveupdatescripts import UpdateStub
    UpdateStub().start()

then drive it with ``pylu-controller``. Nothing is instrumented and nothing is written until a command asks.
"""

from .stub import UpdateStub

__all__ = ["UpdateStub"]
