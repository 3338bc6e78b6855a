"""The swap of a PostgreSQL rebuild: the scratch schema's name, the objects that
move, and the statements that replace the live ones.

A rebuild writes into ``<schema>_rebuild_<name>``. The swap moves every table
(plain or partitioned), view, materialized view and standalone sequence of it,
except the checkpoints table, into the live schema with ``ALTER ... SET
SCHEMA`` (indexes, constraints and the sequences that columns own move with
their tables), after dropping the live objects of the same names (``CASCADE``:
what depends on them goes too). Objects of the live schema that the rebuild did
not make stay. A rebuild that made types or functions is refused: they would
stay behind, and dropping the scratch schema would take them (and the columns
or triggers using them) away.

Example::

    refuse_unmovable(conn, scratch, "ledger")
    begin_swap(conn, place, "ledger", scratch)   # the swap's transaction is open
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ....exceptions import ConfigurationError, StoreBusyError, StoreUnavailableError
from ..backend import CHECKPOINTS_TABLE
from .place import RESET_LOCK_TIMEOUT, SET_LOCK_TIMEOUT, SWAP_LOCK, PgPlace, milliseconds, reason
from .transaction import SyncConn
from .writer import roll_back

__all__ = ["begin_swap", "refuse_unmovable", "scratch_schema"]

# A swap attempt waits for each lock at most this long (s), doubling per attempt up to
# _MAX_WAIT: below PostgreSQL's default deadlock_timeout (1 s), so that a reader caught
# in a lock cycle with the swap is freed by the swap's timeout, never picked by the
# deadlock check.
_FIRST_WAIT: Final = 0.05
_MAX_WAIT: Final = 0.5
_RETRY = (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected)
_LOCK_SWAP: Final = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

#: relkind -> the SQL word of the objects a swap replaces and moves
_KINDS: Final = {
    "r": "TABLE",
    "p": "TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "S": "SEQUENCE",
}


def scratch_schema(schema: str, name: str) -> str:
    """The schema a rebuild of projection ``name`` writes into, beside ``schema``
    (within PostgreSQL's 63-byte limit; a cut name gets a digest of the whole)."""
    scratch = f"{schema}_rebuild_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
    if len(scratch) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        scratch = f"{scratch[:54]}_{digest}"
    return scratch


# Tables (plain and partitioned), views, materialized views, and sequences that no
# column owns (owned and identity sequences move with their tables).
_MOVED = """
SELECT c.relname::text, c.relkind::text FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relname <> %(skip)s
  AND (c.relkind IN ('r', 'p', 'v', 'm')
       OR (c.relkind = 'S' AND NOT EXISTS (
           SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
             AND d.objid = c.oid AND d.deptype IN ('a', 'i'))))
ORDER BY c.relname
"""
_NAMESAKES = """
SELECT c.relname::text, c.relkind::text FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relname = ANY(%(names)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
ORDER BY c.relname
"""
# What a swap leaves behind although the moved objects may use it: functions and
# types of their own (not the row types of relations, not the implicit arrays).
_UNMOVABLE = """
SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
WHERE p.pronamespace = %(schema)s::regnamespace
UNION ALL
SELECT 'type ' || t.oid::regtype::text FROM pg_type t
WHERE t.typnamespace = %(schema)s::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
UNION ALL
SELECT 'foreign table ' || c.relname FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'f'
"""


def refuse_unmovable(conn: SyncConn, source: str, name: str) -> None:
    """Refuse a swap that would leave behind objects the moved tables may use
    (dropping the scratch schema would then drop them, or parts of the tables)."""
    left = [row[0] for row in conn.execute(_UNMOVABLE, {"schema": source}).fetchall()]
    if left:
        raise ConfigurationError(
            f"the rebuilt read model of projection {name!r} holds objects a swap does "
            f"not move ({', '.join(left)}); create types and functions in another "
            "schema (once, outside the projection) and name them with that schema"
        )


def begin_swap(conn: SyncConn, place: PgPlace, name: str, source: str) -> None:
    """Begin the swap of projection ``name`` from ``source`` into ``place``'s
    schema: lock the checkpoint row (inserted if missing) and the swap lock (no
    snapshot is open then), replace the live objects by the rebuilt ones.

    Each attempt waits a short while for its locks; a reader holding one of the
    tables makes it roll back and try again, so readers never wait long behind
    a swap that waits for them. After ``lock_timeout`` s: StoreBusyError.
    """
    deadline = time.monotonic() + place.lock_timeout
    wait = _FIRST_WAIT
    while True:
        try:
            _attempt(conn, place, name, source, wait)
            return
        except _RETRY as e:
            if not roll_back(conn):
                raise place.unavailable(e) from e
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"the swap of projection {name!r} into schema {place.schema!r} did not "
                    f"get its locks within {place.lock_timeout} s (long-running readers or "
                    "another rebuild); nothing was changed, run the rebuild again"
                ) from e
        except psycopg.Error as e:
            raise StoreUnavailableError(
                f"PostgreSQL refused the swap of projection {name!r} into schema "
                f"{place.schema!r}: {reason(e)}"
            ) from e
        time.sleep(wait / 2)
        wait = min(wait * 2, _MAX_WAIT)


def _attempt(conn: SyncConn, place: PgPlace, name: str, source: str, wait: float) -> None:
    st = place.statements
    conn.execute("BEGIN")
    conn.execute(SET_LOCK_TIMEOUT, (milliseconds(wait),))
    conn.execute(st.insert, (name,))
    conn.execute(st.lock, (name,))
    conn.execute(_LOCK_SWAP, (SWAP_LOCK, place.schema))
    _move_objects(conn, source, place.schema)
    conn.execute(RESET_LOCK_TIMEOUT)


def _move_objects(conn: SyncConn, source: str, target: str) -> None:
    """Replace ``target``'s objects by those of ``source`` (in the caller's
    transaction; the statements go in one round trip)."""
    moved = conn.execute(_MOVED, {"schema": source, "skip": CHECKPOINTS_TABLE}).fetchall()
    names = [name for name, _ in moved]
    replaced = conn.execute(_NAMESAKES, {"schema": target, "names": names}).fetchall()
    with conn.pipeline():
        for name, kind in replaced:
            conn.execute(_drop(target, name, kind))
        for name, kind in moved:
            conn.execute(_move(source, name, kind, target))


def _drop(schema: str, name: str, kind: str) -> sql.Composed:
    """``DROP <kind> IF EXISTS schema.name CASCADE``."""
    return sql.SQL("DROP {} IF EXISTS {} CASCADE").format(
        sql.SQL(_KINDS[kind]), sql.Identifier(schema, name)
    )


def _move(source: str, name: str, kind: str, target: str) -> sql.Composed:
    """``ALTER <kind> source.name SET SCHEMA target``."""
    return sql.SQL("ALTER {} {} SET SCHEMA {}").format(
        sql.SQL(_KINDS[kind]), sql.Identifier(source, name), sql.Identifier(target)
    )
