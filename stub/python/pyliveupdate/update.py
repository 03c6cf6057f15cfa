"""The original's import path for custom modifications: ``from pyliveupdate.update import Instrument, Redefine,
UpdateManager``."""

from .custom import Instrument
from .redefine import Redefine, patch
from .updates import UpdateManager

__all__ = ["Instrument", "Redefine", "UpdateManager", "patch"]
