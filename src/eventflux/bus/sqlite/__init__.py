"""The SQLite bus backend (``sqlite:///bus.db``): :class:`SQLiteBusBackend`."""

from .backend import SQLiteBusBackend

__all__ = ["SQLiteBusBackend"]
