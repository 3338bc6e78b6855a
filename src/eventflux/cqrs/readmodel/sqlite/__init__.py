"""The SQLite read-model backend (``sqlite:///read.db``): see :mod:`.backend`; and
``memory://`` read models, in a temporary file (:mod:`.temporary`)."""

from __future__ import annotations

from .backend import SQLiteReadModelBackend
from .temporary import TemporaryReadModelBackend
from .transaction import SQLiteTransaction, split_script

__all__ = [
    "SQLiteReadModelBackend",
    "SQLiteTransaction",
    "TemporaryReadModelBackend",
    "split_script",
]
