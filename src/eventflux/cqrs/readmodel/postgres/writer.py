"""The writer connection of a PostgreSQL read model: synchronous, used on the
read model's writer thread (and by ``async def`` handlers on the event loop,
while that thread waits).

Each unit of work is one transaction that begins by locking the projection's
row in the schema's checkpoints table (``SELECT ... FOR UPDATE``) and ends by
writing the new position and committing, with the handlers' writes. The row
lock makes the runners of one projection take turns, in every process on
every machine.

Example::

    conn = connect_writer(place)
    checkpoint, is_new, store_id = lock_checkpoint(conn, place, "shop-catalog")
    ...
    save_checkpoint(conn, place, "shop-catalog", 42, store_id)
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.pq import TransactionStatus

from ....exceptions import StoreBusyError, StoreUnavailableError
from .place import RESET_LOCK_TIMEOUT, SCHEMA_LOCK, SET_LOCK_TIMEOUT, PgPlace, milliseconds
from .transaction import SyncConn

__all__ = [
    "connect_writer",
    "idle",
    "lock_checkpoint",
    "lost",
    "roll_back",
    "save_checkpoint",
]


def lost(conn: SyncConn) -> bool:
    """True if the connection is closed or broken (server restart, network)."""
    return conn.closed or conn.broken


def idle(conn: SyncConn) -> bool:
    """True if the connection is usable and outside any transaction."""
    return not lost(conn) and conn.info.transaction_status == TransactionStatus.IDLE


def connect_writer(place: PgPlace) -> SyncConn:
    """A new autocommit connection whose ``search_path`` is the schema, with the
    schema and its checkpoints table created if missing. It prepares its
    repeated statements (readers do not: a swap may change the tables)."""
    try:
        conn = psycopg.Connection.connect(
            place.conninfo,
            autocommit=True,
            prepare_threshold=5,
            connect_timeout=place.libpq_timeout,
        )
    except psycopg.Error as e:
        raise place.cannot_connect(e) from e
    try:
        conn.execute(place.statements.search_path)
        if place.scratch:  # a rebuild's scratch schema: speed over durability
            conn.execute("SET synchronous_commit TO off")
        _prepare_schema(conn, place)
    except BaseException as e:
        conn.close()
        if isinstance(e, psycopg.Error):
            raise place.unavailable(e) from e
        raise
    return conn


def _prepare_schema(conn: SyncConn, place: PgPlace) -> None:
    """Create the schema (if missing) and its checkpoints table; one process at
    a time, so that processes starting together do not trip over each other."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SCHEMA_LOCK, place.schema))
        cur = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (place.schema,))
        if cur.fetchone() is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(place.schema)))
        conn.execute(place.statements.create)
        if conn.execute(place.statements.has_store_id).fetchone() is None:
            conn.execute(place.statements.add_store_id)  # a model made by an earlier version


def lock_checkpoint(conn: SyncConn, place: PgPlace, name: str) -> tuple[int, bool, str | None]:
    """BEGIN, insert ``name``'s checkpoint row if missing and lock it, in one
    round trip; returns (the checkpoint, True if the row is new, the store id
    recorded with it)."""
    st = place.statements
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            conn.execute(SET_LOCK_TIMEOUT, (milliseconds(place.lock_timeout),))
            inserted = conn.execute(st.insert, (name,))
            locked = conn.execute(st.lock, (name,))
            conn.execute(RESET_LOCK_TIMEOUT)
        row = locked.fetchone()
    except pg_errors.LockNotAvailable as e:
        raise StoreBusyError(
            f"the checkpoint of projection {name!r} in schema {place.schema!r} stayed "
            f"locked by another runner for {place.lock_timeout} s"
        ) from e
    except psycopg.Error as e:
        raise place.unavailable(e) from e
    if row is None:  # pragma: no cover - the row was inserted or locked above
        raise StoreUnavailableError(f"the checkpoint row of {name!r} vanished")
    return int(row[0]), inserted.rowcount == 1, row[1]


def save_checkpoint(
    conn: SyncConn, place: PgPlace, name: str, position: int, store_id: str | None = None
) -> None:
    """Write ``name``'s new position (and store id) and COMMIT, in one round trip."""
    try:
        with conn.pipeline():
            conn.execute(place.statements.save, (position, store_id, name))
            conn.execute("COMMIT")
    except psycopg.Error as e:
        raise place.unavailable(e) from e


def roll_back(conn: SyncConn) -> bool:
    """End the connection's transaction, if any; False if the connection could
    not (it is then closed, and must be replaced)."""
    if lost(conn):
        return False
    if conn.info.transaction_status == TransactionStatus.IDLE:
        return True
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()
        return False
    return True
