"""Group commit of the PostgreSQL store backend's appends.

Every append of one store goes through one writer task (a
:class:`~eventflux._internal.group_commit.TaskGroupWriter`). The writer takes all
the appends queued while its previous transaction ran and commits them in one
transaction: each request is checked on its own (expected version, idempotent
retry, duplicate ids, hard-deleted streams), the ones that pass are written
together, the ones that fail get their own error and change nothing. So one
conflicting append never fails or rolls back the others, and a burst of small
appends costs a few round trips and one commit instead of one each.

A transaction takes one statement in the common case, two round trips
otherwise:

1. ``BEGIN``; create the rows of new streams; lock the rows of every stream
   in the group (sorted by name, so two writers never deadlock); when some
   request fails its version check, look up the group's event ids (a retry of
   a stored batch returns its original result).
2. One statement that bumps the stream versions, draws the positions from the
   ``head`` row and inserts the events, then ``COMMIT``, sent together.

When the writer can predict the stream versions (it wrote or locked the
streams last), the whole append is one statement, hence one transaction in
autocommit mode (see ``AppendWriter._predicted`` and ``_FAST`` in :mod:`.sql`):
it creates or moves the streams only if they are as predicted, draws the
positions last, and aborts whole otherwise, after which the group takes the
steps above.
Retries and duplicate ids that no version check revealed hit the unique index
on ids; the group then runs again with the ids looked up first.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from ..._internal.group_commit import DEFER, GroupLimits, Outcome, TaskGroupWriter
from ...events import AppendResult
from ...exceptions import StoreClosedError, StoreError
from ..backend import AppendBatch
from .arrays import ByteaArray, Int4Array, Int8Array, TextArray, UuidArray
from .connections import ConnectionLost, Connections
from .plan import Request, Rows, any_conflict, plan_group, results
from .sql import Statements

__all__ = ["AppendWriter"]

#: Most events one transaction writes (more wait for the next one).
MAX_GROUP_EVENTS = 20_000
#: Most requests one transaction serves.
MAX_GROUP_REQUESTS = 1_000
#: A group with more encoded bytes than this sends its rows ahead in slices of
#: about STAGE_SLICE bytes (see ``_stage``), not in one statement.
STAGE_ABOVE = 4 * 1024 * 1024
STAGE_SLICE = 1024 * 1024
_MAX_INT = 2**63 - 1

Pause = Callable[[str], Awaitable[None]]
Fault = Callable[[str], Awaitable[None]]
Outcomes = list[tuple[Request, list[AppendResult] | StoreError]]


class AppendWriter:
    """Queues appends and commits them in groups, one transaction at a time."""

    def __init__(self, connections: Connections, statements: Statements, token: str) -> None:
        self._connections = connections
        self._statements = statements
        self._token = token
        self._group: TaskGroupWriter[list[AppendBatch], list[AppendResult]] = TaskGroupWriter(
            self._commit,
            limits=GroupLimits(MAX_GROUP_REQUESTS, MAX_GROUP_EVENTS),
            closed=lambda: StoreClosedError("the event store is closed"),
            name="eventflux-pg-writer",
        )
        #: Test hook: awaited with "locked" (stream rows locked) and "drawn" (positions
        #: drawn, events inserted, COMMIT not yet sent). Never set in production.
        self.pause: Pause | None = None
        #: Test hook of the one-statement path: awaited with "fast" after its
        #: statement, before the commit (see ``_faulty``). Never set in production.
        self.fault: Fault | None = None
        #: Stream versions as this writer last saw them (locked or written): the
        #: prediction that lets most transactions take a single round trip.
        self._known: dict[str, int] = {}
        #: Streams with retention limits or hard-deleted: always the two-step way.
        self._slow: set[str] = set()

    async def submit(self, batches: list[AppendBatch]) -> list[AppendResult]:
        """Append the batches (all or none) in one of the next transactions."""
        return await self._group.submit(batches, sum(len(b.events) for b in batches))

    async def close(self) -> None:
        """Finish the transaction in flight, fail the queued appends, stop."""
        await self._group.close()

    # -- one group --------------------------------------------------------------------
    async def _commit(self, group: list[Request]) -> Sequence[Outcome[list[AppendResult]]]:
        connections = self._connections
        deadline: float | None = None
        delay = 0.02
        check_ids = False
        clashes = 0
        while True:
            try:
                outcomes, deferred = await connections.run(
                    functools.partial(self._transaction, group=group, check_ids=check_ids),
                    retry=False,
                )
            except (pg_errors.UniqueViolation, pg_errors.DeadlockDetected) as e:
                # An event id is stored already: a retry, a duplicate, or an id another
                # writer committed meanwhile. Run again, looking the ids up first.
                clashes += 1
                if clashes > 5:
                    return [connections.translate(e) for _ in group]
                check_ids = True
                continue
            except ConnectionLost as e:
                # Lost connection (so the outcome of COMMIT may be unknown): run the
                # group again. Appends are idempotent by event id, so a group that did
                # commit returns its original results.
                now = time.monotonic()
                if deadline is None:
                    deadline = now + connections.wait_timeout
                if now >= deadline or connections.closed:
                    return [connections.translate(e) for _ in group]
                check_ids = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            except Exception as e:
                if len(group) > 1 and not isinstance(e, psycopg.OperationalError):
                    # One request's bad input must not fail the others: each runs
                    # alone, and only the culprit gets the error.
                    return [(await self._commit([r]))[0] for r in group]
                return [connections.translate(e) for _ in group]
            return _in_order(group, outcomes, deferred)

    async def _transaction(
        self, conn: psycopg.AsyncConnection[Any], group: list[Request], check_ids: bool
    ) -> tuple[Outcomes, list[Request]]:
        st = self._statements
        names = sorted({b.stream for r in group for b in r.payload})
        large = _encoded_bytes(group) > STAGE_ABOVE
        if not check_ids and not large:
            done = await self._predicted(conn, group, names)
            if done is not None:
                return done, []
        try:
            async with conn.pipeline() as pipe:
                await conn.execute("BEGIN")
                await conn.execute(st.ensure_streams, (names,))
                locked = conn.cursor()
                await locked.execute(st.lock_streams, (names,))
                await pipe.sync()
                stream_rows = await locked.fetchall()
            if self.pause is not None:
                await self.pause("locked")
            versions = {name: int(v) for name, v, _, _ in stream_rows}
            self._remember(versions)
            deleted = {name for name, _, gone, _ in stream_rows if gone}
            limited = {name for name, _, _, lim in stream_rows if lim}
            self._slow.update(deleted, limited)
            # Event ids are looked up only when they can matter: a request that fails
            # its version check may be the retry of a stored batch. Otherwise the
            # unique index on ids catches retries and duplicates (see _serve).
            stored: dict[Any, tuple[str, int, int]] | None = None
            if check_ids or any_conflict(group, versions):
                ids = [e.id for r in group for b in r.payload for e in b.events]
                found = await conn.cursor(binary=True).execute(st.stored_ids, (ids,))
                stored = {i: (s, int(v), int(p)) for i, s, v, p in await found.fetchall()}
            planned, deferred, rows, touched = plan_group(group, versions, deleted, stored or {})
            if not rows.ids:
                await conn.execute("ROLLBACK")
                return results(planned, 0), deferred
            if large:
                await self._stage(conn, rows)
                params = self._params(Rows(), touched)
                params["n"] = len(rows.ids)
                statement = st.commit_staged
            else:
                params = self._params(rows, touched)
                statement = st.commit_events
            prune = sorted(limited & set(touched))
            async with conn.pipeline() as pipe:
                head = conn.cursor()
                await head.execute(statement, params)
                if prune:
                    await conn.execute(st.prune_after_append, (prune,))
                if self.pause is not None:
                    await pipe.sync()
                    await self.pause("drawn")
                await conn.execute("COMMIT")
                await pipe.sync()
                row = await head.fetchone()
            assert row is not None
            self._remember(touched)
            return results(planned, int(row[0])), deferred
        finally:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                try:
                    await conn.execute("ROLLBACK")
                except psycopg.Error:
                    await conn.close()

    async def _stage(self, conn: psycopg.AsyncConnection[Any], rows: Rows) -> None:
        """Send a large group's rows to the connection's staging table, a slice of
        about ``STAGE_SLICE`` bytes per statement (the event loop runs between)."""
        st = self._statements
        await conn.execute(st.create_staging)
        n = len(rows.ids)
        start = 0
        while start < n:
            end, size = start, 0
            while end < n and (end == start or size < STAGE_SLICE):
                size += len(rows.datas[end]) + len(rows.metas[end])
                end += 1
            part = slice(start, end)
            await conn.execute(
                st.stage_rows,
                {
                    "offset": start,
                    "ids": UuidArray.of(rows.ids[part]),
                    "streams": TextArray.of(rows.streams[part]),
                    "evs": Int8Array.of(rows.versions[part]),
                    "types": TextArray.of(rows.types[part]),
                    "datas": ByteaArray.of(rows.datas[part]),
                    "metas": ByteaArray.of(rows.metas[part]),
                    "svs": Int4Array.of(rows.schemas[part]),
                    "cids": TextArray.of(rows.correlations[part]),
                },
            )
            start = end

    def _params(self, rows: Rows, touched: dict[str, int]) -> dict[str, Any]:
        names = sorted(touched)
        return {
            "names": TextArray.of(names),
            "versions": Int8Array.of([touched[n] for n in names]),
            "n": len(rows.ids),
            "ids": UuidArray.of(rows.ids),
            "streams": TextArray.of(rows.streams),
            "evs": Int8Array.of(rows.versions),
            "types": TextArray.of(rows.types),
            "datas": ByteaArray.of(rows.datas),
            "metas": ByteaArray.of(rows.metas),
            "svs": Int4Array.of(rows.schemas),
            "cids": TextArray.of(rows.correlations),
            "channel": self._statements.notify_channel,
            "token": self._token,
        }

    def _remember(self, versions: dict[str, int]) -> None:
        if len(self._known) > 50_000:
            self._known.clear()
            self._slow.clear()
        self._known.update(versions)

    async def _predicted(
        self, conn: psycopg.AsyncConnection[Any], group: list[Request], names: list[str]
    ) -> Outcomes | None:
        """The common case in one statement: plan the group against the stream
        versions this writer expects and write it only if the streams are as
        predicted. Returns None (nothing written) when the plan needs the real
        state: a predicted conflict, or streams not as predicted. A pause hook
        (tests) needs the general path's steps, so it turns this path off."""
        if self.pause is not None or self._slow.intersection(names):
            return None
        predicted: dict[str, int] = {}
        for r in group:
            for b in r.payload:
                if b.stream not in predicted:
                    guess = self._known.get(b.stream)
                    if guess is None:
                        expected = b.expected_version
                        guess = expected if isinstance(expected, int) else 0
                    predicted[b.stream] = guess
        planned, deferred, rows, touched = plan_group(group, dict(predicted), set(), {})
        if (
            deferred
            or touched.keys() != predicted.keys()  # the statement checks the streams it moves
            or any(isinstance(p, StoreError) for _, p in planned)
            or max(touched.values(), default=0) > _MAX_INT  # a guess from a bad expectation
        ):
            return None
        params = self._params(rows, touched)
        params["pversions"] = Int8Array.of([predicted[n] for n in sorted(touched)])
        if self.fault is not None:
            row = await self._faulty(conn, params, self.fault)
            if row is None:
                return None
        else:
            try:
                # autocommit: the statement is the transaction
                cursor = await conn.execute(self._statements.commit_fast, params)
            except pg_errors.DivisionByZero:  # not as predicted: the statement wrote nothing
                return None  # (the general path looks the versions up and remembers them)
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] is not None
        self._remember(touched)
        return results(planned, int(row[0]))

    async def _faulty(
        self, conn: psycopg.AsyncConnection[Any], params: dict[str, Any], fault: Fault
    ) -> tuple[Any, ...] | None:
        """The one-statement path with a fault hook (tests only): the same
        statement in a transaction, and the hook between the statement (its
        positions drawn, the head row locked) and its COMMIT: it may stall or
        raise, which rolls everything back."""
        await conn.execute("BEGIN")
        try:
            try:
                cursor = await conn.execute(self._statements.commit_fast, params)
            except pg_errors.DivisionByZero:
                await conn.execute("ROLLBACK")
                return None
            row = await cursor.fetchone()
            await fault("fast")
            await conn.execute("COMMIT")
        finally:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                try:
                    await conn.execute("ROLLBACK")
                except psycopg.Error:
                    await conn.close()
        return row


def _encoded_bytes(group: list[Request]) -> int:
    """The encoded bytes of a group's events (data plus metadata)."""
    return sum(len(e.data) + len(e.metadata) for r in group for b in r.payload for e in b.events)


def _in_order(
    group: list[Request], outcomes: Outcomes, deferred: list[Request]
) -> list[Outcome[list[AppendResult]]]:
    """One outcome per request of ``group``, in its order (deferred ones: DEFER)."""
    by_request: dict[int, Outcome[list[AppendResult]]] = {id(r): o for r, o in outcomes}
    for r in deferred:
        by_request[id(r)] = DEFER
    return [by_request[id(r)] for r in group]
