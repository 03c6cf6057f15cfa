"""The original pyliveupdate's import path: ``from pyliveupdatescripts import UpdateStub`` (and ``FP``,
``LU``, ...). Only re-exports: the tools live in ``pyliveupdate.tools``."""

from pyliveupdate.tools import *  # noqa: F403  (exactly the names of pyliveupdate.tools.__all__)
from pyliveupdate.tools import __all__  # noqa: F401
