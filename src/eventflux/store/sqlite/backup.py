"""Online backups of a SQLite store file.

:func:`write_backup` copies the store with SQLite's backup API in a single
step: the copy is read in one read transaction, so it is one consistent state
of the store (a prefix of its history), and in WAL mode writers, in this
process or others, go on meanwhile. The copy goes to a temporary file next to
the destination, is switched out of WAL mode (one self-contained file),
checked, flushed to disk, and only then linked to its name, which must not
exist: a backup never replaces a file, and a half-written one never carries
the name.

Copying a live store's files with ``cp`` is not a backup: the database file
and its ``-wal`` file are read at different moments, and the copy is often
corrupt.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from ..._internal.sqlite import connect, translate_error
from ...exceptions import StoreError
from .schema import ERRORS

__all__ = ["write_backup"]


def write_backup(path: str, dest: str, busy_timeout: float) -> int:
    """Copy the store at ``path`` to the new file ``dest``; return the last
    position the copy holds. Runs on a worker thread (it blocks)."""
    final = Path(dest)
    if final.exists():
        raise StoreError(f"{dest!r} exists: a backup never replaces a file; pick a new name")
    if not final.parent.is_dir():
        raise StoreError(f"the folder of {dest!r} does not exist; create it first")
    fd, partial = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    os.close(fd)
    try:
        try:
            last = _copy(path, partial, busy_timeout)
        except sqlite3.Error as e:
            raise translate_error(e, path, busy_timeout, ERRORS) from e
        _fsync(partial)
        try:
            os.link(partial, final)  # fails if the name was taken meanwhile: nothing replaced
        except FileExistsError:
            raise StoreError(
                f"{dest!r} appeared while the backup was written; the backup was not kept"
            ) from None
        _fsync(str(final.parent))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return last


def _copy(path: str, partial: str, busy_timeout: float) -> int:
    source = connect(path, busy_timeout)
    try:
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(target)  # all pages in one step: one consistent state
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            check = target.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise StoreError(f"the backup of {path!r} failed its check: {check[:3]}")
            rows = target.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'eventflux_events'"
            ).fetchall()
        finally:
            target.close()
    finally:
        source.close()
    return int(rows[0][0]) if rows else 0


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
