"""The SQLite read-model backend (``sqlite:///read.db``): see :mod:`.backend`."""

from __future__ import annotations

from .backend import SQLiteReadModelBackend
from .transaction import SQLiteTransaction, split_script

__all__ = ["SQLiteReadModelBackend", "SQLiteTransaction", "split_script"]
