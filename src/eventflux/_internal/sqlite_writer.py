"""The group-commit writer of a SQLite database file (the event store's and
the bus's): :class:`SQLiteWriter`, one connection and one thread per file
and process, built on :class:`~eventflux._internal.group_commit.ThreadGroupWriter`.

A job is ``job(conn, now_us, careful)``; the writer runs the jobs queued
meanwhile in one ``BEGIN IMMEDIATE ... COMMIT``, each in its own SAVEPOINT,
so a job that fails rolls back alone and only its caller gets the error. A
job may raise :class:`RetryCarefully` from its fast first attempt
(``careful=False``): its savepoint is rolled back and it runs again with
``careful=True``. A :class:`JointJob` may run together with the other jobs of
its class in the group, in a few statements (the store's appends: one round
of statements per group instead of six per append). :func:`acquire_writer` /
:func:`release_writer` share one writer among the users of a file in a
process.

Example::

    writer = acquire_writer("events.db", synchronous="FULL", busy_timeout=5.0, errors=ERRORS)
    version = await writer.submit(lambda conn, now_us, careful: conn.execute(sql).fetchall())
    release_writer(writer)
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from .group_commit import GroupLimits, Outcome, Request, ThreadGroupWriter
from .sqlite import SQLiteErrors, connect, translate_error

__all__ = [
    "ALONE",
    "MAX_GROUP",
    "STORE_GATHER",
    "Job",
    "JointJob",
    "RetryCarefully",
    "SQLiteWriter",
    "acquire_writer",
    "release_writer",
]

T = TypeVar("T")

log = logging.getLogger("eventflux")

#: Most jobs one transaction of a writer runs.
MAX_GROUP: Final = 512

#: How long the event store's writer may wait for more appends after a large
#: group (see ThreadGroupWriter): with 32 concurrent bank clients, 1 ms made
#: the groups larger and the commands about 11% faster (8 alternating runs:
#: 2,197 -> 2,433 commands/s). The bus's writer does not wait: its fetches are
#: on the path of every delivery, and consuming ran about 10% slower with it.
STORE_GATHER: Final = 0.001

#: A writer's job: ``job(conn, now_us, careful)``, run inside the group's transaction;
#: ``now_us`` is the transaction's time in microseconds since the epoch.
Job = Callable[[sqlite3.Connection, int, bool], Any]


class Alone(enum.Enum):
    """What :meth:`JointJob.run_together` returns for a job it leaves to run alone."""

    ALONE = "alone"


ALONE: Final = Alone.ALONE


class JointJob:
    """A job that the writer may run together with the other jobs of the same
    class in its group (when there are two or more).

    Subclasses define ``__call__(conn, now_us, careful)``, which runs the job
    alone as any :data:`Job`, and :meth:`run_together`. Why: every statement a
    job runs hands the GIL over twice, and while the event loop's thread is
    busy each handover waits for it; jobs that share a few statements (one
    multi-row INSERT instead of one per job) spend far less time waiting.
    """

    __slots__ = ()

    def __call__(self, conn: sqlite3.Connection, now_us: int, careful: bool) -> Any:
        raise NotImplementedError

    @classmethod
    def run_together(cls, conn: sqlite3.Connection, jobs: list[Any], now_us: int) -> list[Any]:
        """Run ``jobs`` (instances of ``cls``, in submission order) in one go: one
        result per job, or :data:`ALONE` for a job to run alone afterwards (in
        its own savepoint, like any job). Raising rolls back what it did, and
        then every one of ``jobs`` runs alone: the careful, per-job path sorts
        out what the joint attempt could not."""
        raise NotImplementedError


class _TransactionLost(Exception):
    """A job's error after which SQLite had rolled back the whole transaction."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class RetryCarefully(Exception):
    """Raised by a job run with ``careful=False`` that needs its slow path: the
    writer rolls back the job's savepoint and runs it again with ``careful=True``."""


class SQLiteWriter:
    """The writer of one database file: one connection, one thread, group commit
    with a SAVEPOINT per job (see the module documentation).

    ``synchronous`` is the connection's ``PRAGMA synchronous`` (``FULL``,
    ``NORMAL`` or ``OFF``). On the writer thread, ``on_commit(conn)`` runs
    after each transaction that committed (e.g. waking readers), and
    ``tick(conn)`` between transactions, at least every ``tick_every`` seconds
    (e.g. checking :func:`data_version`, housekeeping). ``gather`` is the
    longest a group may wait for more jobs after a large one (see
    :class:`~eventflux._internal.group_commit.ThreadGroupWriter`). Use
    :func:`acquire_writer` to share one writer (without hooks) per file in a
    process.
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: str,
        busy_timeout: float,
        errors: SQLiteErrors,
        max_group: int = MAX_GROUP,
        on_commit: Callable[[sqlite3.Connection], None] | None = None,
        tick: Callable[[sqlite3.Connection], None] | None = None,
        tick_every: float | None = None,
        gather: float = 0.0,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.errors = errors
        #: What :func:`acquire_writer` shares this writer by.
        self.key = (os.path.realpath(path), synchronous, busy_timeout, errors, gather)
        self.refs = 0
        try:
            self._conn = connect(path, busy_timeout)
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as e:
            raise translate_error(e, path, busy_timeout, errors) from e
        self._on_commit = on_commit
        conn = self._conn
        self._thread: ThreadGroupWriter[Job, Any] = ThreadGroupWriter(
            f"eventflux-sqlite-writer:{path}",
            self._commit,
            limits=GroupLimits(max_group),
            closed=lambda: errors.closed(f"the {errors.noun} is closed"),
            finish=conn.close,
            tick=None if tick is None else (lambda: tick(conn)),
            tick_every=tick_every,
            gather=gather,
        )

    def submit(self, job: Callable[[sqlite3.Connection, int, bool], T]) -> asyncio.Future[T]:
        """Queue ``job``; the future gets its result or its (translated) error."""
        return cast("asyncio.Future[T]", self._thread.submit(job))

    def pending(self) -> int:
        """Jobs waiting for the next transaction."""
        return self._thread.pending()

    @property
    def submitted(self) -> int:
        """Jobs submitted so far (for tests and benchmarks)."""
        return self._thread.submitted

    @property
    def transactions(self) -> int:
        """Transactions run so far (for tests and benchmarks)."""
        return self._thread.transactions

    @property
    def requests(self) -> int:
        """Jobs those transactions served (for tests and benchmarks)."""
        return self._thread.requests

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread and close the connection."""
        self._thread.stop()

    # -- on the writer thread -------------------------------------------------------
    def _error(self, e: BaseException) -> BaseException:
        if isinstance(e, _TransactionLost):
            e = e.error
        if isinstance(e, sqlite3.Error | OverflowError):
            err = translate_error(e, self.path, self.busy_timeout, self.errors)
            err.__cause__ = e
            return err
        return e

    def _commit(self, group: list[Request[Job, Any]]) -> list[Outcome[Any]]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            return [self._error(e) for _ in group]
        try:
            now_us = time.time_ns() // 1000
            outcomes = self._run_joint(conn, group, now_us)
            for i, request in enumerate(group):
                if outcomes[i] is ALONE:
                    outcomes[i] = self._run_one(conn, request.payload, now_us)
            conn.execute("COMMIT")
        except Exception as e:  # the transaction itself failed: nobody's work is stored
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return [self._error(e) for _ in group]
        if self._on_commit is not None:
            try:
                self._on_commit(conn)
            except Exception:  # the jobs committed: their callers get their results
                log.exception("the commit hook of the SQLite writer of %r failed", self.path)
        return outcomes

    def _run_joint(
        self, conn: sqlite3.Connection, group: list[Request[Job, Any]], now_us: int
    ) -> list[Any]:
        """Run the joint jobs of ``group`` together, class by class; :data:`ALONE`
        for each request still to run."""
        outcomes: list[Any] = [ALONE] * len(group)
        kinds: dict[type[JointJob], list[int]] = {}
        for i, request in enumerate(group):
            if isinstance(request.payload, JointJob):
                kinds.setdefault(type(request.payload), []).append(i)
        fresh = True  # nothing has run in the transaction yet
        for kind, indexes in kinds.items():
            if len(indexes) < 2:
                continue
            jobs = [group[i].payload for i in indexes]
            # At the head of the transaction, undoing means starting it again: two
            # statements (and GIL handovers) fewer than a savepoint on every group.
            if not fresh:
                conn.execute("SAVEPOINT joint")
            try:
                results = kind.run_together(conn, jobs, now_us)
                if len(results) != len(jobs):
                    raise RuntimeError(
                        f"{kind.__name__}.run_together returned {len(results)} results "
                        f"for {len(jobs)} jobs"
                    )
            except Exception as e:  # nothing of it is kept; each job runs alone
                if not conn.in_transaction:
                    raise _TransactionLost(e) from e
                if fresh:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                else:
                    conn.execute("ROLLBACK TO joint")
                    conn.execute("RELEASE joint")
                if not isinstance(e, sqlite3.IntegrityError):
                    log.debug("joint jobs %s ran alone after %r", kind.__name__, e)
                continue
            if not fresh:
                conn.execute("RELEASE joint")
            fresh = False
            for i, result in zip(indexes, results, strict=True):
                outcomes[i] = result
        return outcomes

    def _run_one(self, conn: sqlite3.Connection, job: Job, now_us: int) -> Outcome[Any]:
        conn.execute("SAVEPOINT request")
        try:
            try:
                value = job(conn, now_us, False)
            except RetryCarefully:
                conn.execute("ROLLBACK TO request")
                value = job(conn, now_us, True)
        except Exception as e:  # this job's error: only its caller gets it
            if not conn.in_transaction:
                # SQLite rolled the whole transaction back (a full disk, an I/O
                # error): every job of the group lost its work, and the cause is
                # this error, not the missing savepoint.
                raise _TransactionLost(e) from e
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            return self._error(e)
        conn.execute("RELEASE request")
        return value


_registry: dict[tuple[str, str, float, SQLiteErrors, float], SQLiteWriter] = {}
_registry_lock = threading.Lock()


def _after_fork() -> None:
    global _registry_lock
    _registry.clear()  # the parent's writer threads do not exist in a child
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def acquire_writer(
    path: str,
    *,
    synchronous: str,
    busy_timeout: float,
    errors: SQLiteErrors,
    gather: float = 0.0,
) -> SQLiteWriter:
    """The process's writer for ``path`` with these settings (started on first
    use, reference-counted: pair every call with :func:`release_writer`)."""
    key = (os.path.realpath(path), synchronous, busy_timeout, errors, gather)
    with _registry_lock:
        writer = _registry.get(key)
        if writer is None:
            writer = _registry[key] = SQLiteWriter(
                path,
                synchronous=synchronous,
                busy_timeout=busy_timeout,
                errors=errors,
                gather=gather,
            )
        writer.refs += 1
        return writer


def release_writer(writer: SQLiteWriter) -> None:
    """Drop one reference; the last one stops the writer (blocks until it is done)."""
    with _registry_lock:
        writer.refs -= 1
        if writer.refs > 0:
            return
        if _registry.get(writer.key) is writer:
            del _registry[writer.key]
    writer.stop()
