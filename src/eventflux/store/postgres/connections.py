"""The PostgreSQL store backend's connections: the pool, running an operation
on a pooled connection (and again on another one when its connection was
lost), and translating driver errors into eventflux errors.

:class:`Connections` is the small context object that the backend's helpers
(the writer, the reads) take.

Example::

    rows = await connections.fetch("SELECT version FROM s.streams WHERE name = %s", ("a",))
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from ...exceptions import (
    InvalidArgumentError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)
from .arrays import register as register_arrays

__all__ = ["Conn", "ConnectionLost", "Connections", "configure"]

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]


#: Reconnection attempts of the pool: the first after 50 ms, then doubling up to
#: RECONNECT_MAX seconds (psycopg_pool's own start at 1 s and double without
#: bound, so after a long outage the store stayed unusable for seconds after the
#: server was back).
RECONNECT_FIRST = 0.05
RECONNECT_MAX = 0.5


class _Reconnecting(AttemptWithBackoff):
    """psycopg_pool's reconnection attempt, with eventflux's short delays."""

    INITIAL_DELAY = RECONNECT_FIRST

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        if self.delay > RECONNECT_MAX:
            self.delay = min(RECONNECT_MAX, max(0.0, self.give_up_at - now))


class _Pool(AsyncConnectionPool[Any]):
    """The pool, reconnecting within half a second of the server's return."""

    async def _add_connection(
        self, attempt: AttemptWithBackoff | None, growing: bool = False
    ) -> None:
        if attempt is None:
            attempt = _Reconnecting(timeout=self.reconnect_timeout)
        await super()._add_connection(attempt, growing=growing)


class ConnectionLost(Exception):
    """A connection broke during an operation, so its outcome may be unknown
    (raised by :meth:`Connections.run` when it may not retry)."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error


async def configure(conn: Conn) -> None:
    """Set up a new connection: binary arrays, and timestamps in UTC."""
    register_arrays(conn)
    # Timestamps come back in UTC whatever the server's or the role's time zone.
    await conn.execute("SET TIME ZONE 'UTC'")


class Connections:
    """The pool of one store and the rules for using it."""

    def __init__(
        self, conninfo: str, *, name: str, pool_min: int, pool_max: int, wait_timeout: float
    ) -> None:
        self.conninfo = conninfo
        #: Seconds an operation waits for a connection or for the server to come back.
        self.wait_timeout = wait_timeout
        #: Set when the store closes: lost connections are not waited out any more.
        self.closed = False
        self._pool: AsyncConnectionPool[Conn] = _Pool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            kwargs={"autocommit": True},
            configure=configure,
            timeout=wait_timeout,
            open=False,
            name=name,
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        self.closed = True
        await self._pool.close()

    async def run(self, fn: Callable[[Conn], Awaitable[T]], *, retry: bool = True) -> T:
        """Run ``fn`` on a pooled connection.

        With ``retry``, an operation whose connection was lost (server restart,
        network) runs again on another connection until ``wait_timeout``, and
        errors come out translated. Without it, a lost connection comes out as
        :class:`ConnectionLost` and other driver errors as they are.
        """
        deadline: float | None = None
        delay = 0.02
        while True:
            lost = False
            try:
                async with self._pool.connection() as conn:
                    try:
                        return await fn(conn)
                    except psycopg.OperationalError:
                        lost = conn.closed or conn.broken
                        raise
                    finally:
                        if (
                            not conn.closed
                            and conn.info.transaction_status != TransactionStatus.IDLE
                        ):
                            with contextlib.suppress(psycopg.Error):
                                await conn.rollback()
            except StoreError:
                raise
            except psycopg.Error as e:
                if not retry:
                    if lost:
                        raise ConnectionLost(e) from e
                    raise
                if not lost or isinstance(e, PoolTimeout):
                    raise self.translate(e) from e
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.wait_timeout
                if now >= deadline or self.closed:
                    raise self.translate(e) from e
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def translate(self, e: Exception) -> Exception:
        """The eventflux error that names what went wrong, for a driver error or
        for a value the driver could not send (other errors pass through).

        Bad input (a value out of range, bytes that are not valid text) is an
        :class:`~eventflux.InvalidArgumentError`; a server that is down,
        unreachable, out of disk or of connections, or read-only is
        :class:`~eventflux.StoreUnavailableError` saying which; a lock or a
        connection not obtained in time is :class:`~eventflux.StoreBusyError`;
        anything else is a :class:`~eventflux.StoreError`."""
        if isinstance(e, ConnectionLost):
            e = e.error
        if isinstance(e, StoreError | InvalidArgumentError):
            return e
        text = str(e).strip()
        if isinstance(e, PoolTimeout):
            return StoreBusyError(
                f"no PostgreSQL connection within {self.wait_timeout} s: the server is "
                f"unreachable or all {self._pool.max_size} pooled connections are busy "
                "(URL options wait_timeout and pool_max)"
            )
        if isinstance(e, struct.error | OverflowError):
            return InvalidArgumentError(
                f"a value does not fit PostgreSQL's 64-bit integers ({text}); nothing was written"
            )
        if isinstance(e, pg_errors.DataError):
            return InvalidArgumentError(
                f"PostgreSQL refused a value as bad input: {text}; nothing was written"
            )
        if isinstance(e, pg_errors.DiskFull):
            return StoreUnavailableError(
                f"the PostgreSQL server's disk is full: {text}; nothing was written. "
                "Free space on the server and retry"
            )
        if isinstance(e, pg_errors.InsufficientResources):
            return StoreUnavailableError(f"the PostgreSQL server is out of resources: {text}")
        if isinstance(e, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
            return StoreBusyError(f"PostgreSQL gave up waiting: {text}")
        if isinstance(e, pg_errors.InsufficientPrivilege | pg_errors.ReadOnlySqlTransaction):
            return StoreUnavailableError(f"PostgreSQL refused the store's work: {text}")
        if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
            return StoreUnavailableError(f"PostgreSQL is unavailable: {text}")
        if isinstance(e, psycopg.Error):
            return StoreError(f"PostgreSQL refused the operation: {text}")
        return e

    async def fetch(self, sql: str, params: Any, *, binary: bool = True) -> list[tuple[Any, ...]]:
        """The rows of one statement."""

        async def run(conn: Conn) -> list[tuple[Any, ...]]:
            cur = conn.cursor(binary=binary)
            await cur.execute(sql, params)
            return await cur.fetchall()

        return await self.run(run)

    async def in_transaction(self, steps: list[tuple[str, Any]]) -> None:
        """Run the statements in one transaction (one round trip)."""

        async def run(conn: Conn) -> None:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                for sql, params in steps:
                    await conn.execute(sql, params)
                await conn.execute("COMMIT")

        await self.run(run)
