"""The SQLite store backend's writes, run by the file's writer inside its transaction.

Each function takes the writer's connection, the transaction's time in
microseconds since the epoch and a ``careful`` flag. An append first tries the
fast path: check the stream's version, insert, and let the unique id index
catch reused ids. When the version does not match or an id is already stored,
it raises :class:`~eventflux._internal.sqlite_writer.RetryCarefully`; the writer rolls
back its savepoint and runs it again carefully, looking the ids up first to
tell a retry of a stored batch (which returns the original result) from a
duplicate or a conflict.

The appends of one group run together first (:class:`AppendJob`): one lookup
of every stream, one multi-row INSERT of every event and one upsert of every
version for the whole group. The joint path also answers an append refused
for a deleted stream, or for a version that does not match when none of the
refused appends' ids is stored. An append it cannot finish simply (a stream
with limits to prune, a stream that an earlier append of the group writes, a
refused append that may be a retry) runs alone afterwards, and a reused event
id makes them all run alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

import orjson

from ..._internal.sqlite_writer import ALONE, JointJob, RetryCarefully
from ...events import AppendResult
from ...exceptions import ConcurrencyError, StreamDeletedError
from ..backend import AppendBatch, check_idempotent_retry, version_matches
from ..types import StreamLimits

__all__ = ["AppendJob", "append", "delete_stream", "save_snapshot", "set_stream_limits"]

_SELECT_STREAM: Final = (
    "SELECT version, hard_deleted, hidden_before, max_count, max_age_us, last_recorded_at "
    "FROM eventflux_streams WHERE name = ?"
)
# Events go in with multi-row INSERTs: one statement step per chunk instead of
# one per row (a 100-event append ran about 20% faster than with executemany).
# Chunk sizes are powers of two, so n rows take at most log2(n) + 1 statements
# and a connection's statement cache holds at most seven of them; 64 rows are
# 512 parameters, within even the 999 that SQLite before 3.32 allows.
_CHUNKS: Final = (64, 32, 16, 8, 4, 2, 1)
_INSERT_EVENTS: Final = {
    n: "INSERT INTO eventflux_events "
    "(id, stream, version, type, data, metadata, schema_version, recorded_at) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * n)
    for n in _CHUNKS
}
_UPSERT_VERSION: Final = (
    "INSERT INTO eventflux_streams (name, version, last_recorded_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
    "last_recorded_at = excluded.last_recorded_at"
)
# The joint path (see AppendJob) looks every stream up, and sets every version,
# with one statement and one JSON parameter, and inserts up to 64 events with
# one statement (rows padded with NULLs to a power of two, which it skips):
# every statement, and every row it returns, is a step that hands the GIL over
# and waits to get it back.
_INSERT_PADDED: Final = {
    n: "INSERT INTO eventflux_events "
    "(id, stream, version, type, data, metadata, schema_version, recorded_at) "
    "SELECT * FROM (VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * n) + ") "
    "WHERE column1 IS NOT NULL"
    for n in _CHUNKS
}
_PAD_ROW: Final = (None,) * 8
# The most events the joint path takes in one group (its lists of column
# values stay small); the appends beyond run alone.
_JOINT_MAX_ROWS: Final = 4096
# Ids are looked up by a list padded to a power of two (the last id repeated),
# so a connection caches at most nine of these statements.
_LOOKUP_MAX: Final = 256
_ANY_STORED: Final = {
    n: "SELECT 1 FROM eventflux_events WHERE id IN (" + ", ".join("?" * n) + ") LIMIT 1"
    for n in (2**k for k in range(9))
}
_SELECT_STREAMS_JSON: Final = (
    "SELECT json_group_array(json_array(name, version, hard_deleted, hidden_before, "
    "max_count, max_age_us, last_recorded_at)) FROM eventflux_streams "
    "WHERE name IN (SELECT value FROM json_each(?))"
)
_UPSERT_VERSIONS_JSON: Final = (
    "INSERT INTO eventflux_streams (name, version, last_recorded_at) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]') FROM json_each(?) WHERE true "
    "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
    "last_recorded_at = excluded.last_recorded_at"
)
_NO_STREAM_ROW: Final = (0, 0, 1, None, None, 0)
_CHUNK: Final = 500


def _stream_row(conn: sqlite3.Connection, stream: str) -> tuple[Any, ...]:
    rows = conn.execute(_SELECT_STREAM, (stream,)).fetchall()
    return tuple(rows[0]) if rows else _NO_STREAM_ROW


def _stored_ids(conn: sqlite3.Connection, batch: AppendBatch) -> dict[Any, tuple[str, int, int]]:
    ids = [e.id.bytes for e in batch.events]
    found: dict[Any, tuple[str, int, int]] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, stream, version, position FROM eventflux_events WHERE id IN ({marks})",
            chunk,
        ).fetchall()
        for raw, stream, version, position in rows:
            found[UUID(bytes=raw)] = (stream, version, position)
    return found


def append(
    conn: sqlite3.Connection, batches: Sequence[AppendBatch], now_us: int, careful: bool
) -> list[AppendResult]:
    """Append every batch, or raise (the writer then rolls all of them back)."""
    results: list[AppendResult] = []
    for b in batches:
        version, hard, _hidden, max_count, max_age, last_at = _stream_row(conn, b.stream)
        if hard:
            raise StreamDeletedError(b.stream)
        if careful:
            retry = check_idempotent_retry(b, _stored_ids(conn, b))
            if retry is not None:
                results.append(retry)
                continue
            if not version_matches(b.expected_version, version):
                raise ConcurrencyError(b.stream, b.expected_version, version)
        elif not version_matches(b.expected_version, version):
            raise RetryCarefully
        at = now_us if now_us > last_at else last_at
        values: list[Any] = []
        _add_rows(values, b, version, at)
        try:
            position = _insert(conn, values)
        except sqlite3.IntegrityError:
            if careful:
                raise
            raise RetryCarefully from None
        last = version + len(b.events)
        conn.execute(_UPSERT_VERSION, (b.stream, last, at))
        if max_count is not None or max_age is not None:
            _prune(conn, b.stream, now_us)
        results.append(AppendResult(version + 1, last, position))
    return results


def _json(value: Any) -> str:
    """``value`` as JSON text (a BLOB would not be read as JSON)."""
    return orjson.dumps(value).decode()


def _add_rows(values: list[Any], b: AppendBatch, version: int, at: int) -> None:
    """Add the column values of ``b``'s events (versions from ``version + 1``)."""
    stream = b.stream
    for i, e in enumerate(b.events, start=1):
        values += (
            e.id.bytes,
            stream,
            version + i,
            e.type,
            e.data,
            e.metadata,
            e.schema_version,
            at,
        )


def _insert(conn: sqlite3.Connection, values: list[Any]) -> int:
    """Insert the events whose column values, row after row, are ``values``;
    the position of the last one."""
    width = 8
    start, end = 0, len(values)
    last = 0
    for n in _CHUNKS:
        step = n * width
        while end - start >= step:
            last = conn.execute(_INSERT_EVENTS[n], values[start : start + step]).lastrowid or 0
            start += step
    return last


def _insert_padded(conn: sqlite3.Connection, values: list[Any]) -> int:
    """:func:`_insert` with one statement per 64 rows (the last one padded)."""
    width, most = 8, _CHUNKS[0]
    last = 0
    for start in range(0, len(values), most * width):
        chunk = values[start : start + most * width]
        rows = len(chunk) // width
        size = 1 << (rows - 1).bit_length()
        if size > rows:
            chunk += _PAD_ROW * (size - rows)
        last = conn.execute(_INSERT_PADDED[size], chunk).lastrowid or 0
    return last


def _stream_rows(conn: sqlite3.Connection, names: list[str]) -> dict[str, list[Any]]:
    """The rows of the streams ``names`` that have one, by name (one statement)."""
    found = conn.execute(_SELECT_STREAMS_JSON, (_json(names),)).fetchall()[0][0]
    return {row[0]: row[1:] for row in orjson.loads(found)}


class AppendJob(JointJob):
    """The writer's job for one append (its batches), alone or with the other
    appends of its group."""

    __slots__ = ("batches",)

    def __init__(self, batches: Sequence[AppendBatch]) -> None:
        self.batches = batches

    def __call__(self, conn: sqlite3.Connection, now_us: int, careful: bool) -> list[AppendResult]:
        return append(conn, self.batches, now_us, careful)

    @classmethod
    def run_together(cls, conn: sqlite3.Connection, jobs: list[Any], now_us: int) -> list[Any]:
        """Append every job whose streams are free of trouble, with one lookup,
        one INSERT and one upsert; :data:`ALONE` for the others, or the error the
        careful path would give (a deleted stream, a version that does not match
        when none of the job's ids is stored). A reused id raises
        ``IntegrityError``: then every job runs alone."""
        appends: list[AppendJob] = jobs
        rows = _stream_rows(conn, list({b.stream for job in appends for b in job.batches}))
        results: list[Any] = [ALONE] * len(appends)
        values: list[Any] = []
        versions: list[Any] = []
        count = 0  # rows in values
        claimed: set[str] = set()  # streams a job of the joint INSERT writes
        ends: list[tuple[int, list[tuple[int, int, int]]]] = []  # job, (first, last, its row)
        refused: list[tuple[int, ConcurrencyError]] = []  # if none of their ids is stored
        for k, job in enumerate(appends):
            starts: list[tuple[int, int]] = []
            outcome: Any = None  # None: the job goes in the joint INSERT
            for b in job.batches:
                version, hard, _hidden, max_count, max_age, last_at = rows.get(
                    b.stream, _NO_STREAM_ROW
                )
                if hard:
                    outcome = StreamDeletedError(b.stream)
                elif b.stream in claimed or max_count is not None or max_age is not None:
                    outcome = ALONE  # another job writes it first; limits prune
                elif not version_matches(b.expected_version, version):
                    outcome = ConcurrencyError(b.stream, b.expected_version, version)
                else:
                    starts.append((version, last_at))
                    continue
                break
            if isinstance(outcome, ConcurrencyError):
                refused.append((k, outcome))
            elif outcome is not None:
                results[k] = outcome
            elif len({b.stream for b in job.batches}) != len(job.batches):
                pass  # one stream twice in one job: the careful path says what it gets
            elif count and count + sum(len(b.events) for b in job.batches) > _JOINT_MAX_ROWS:
                pass  # the joint INSERT is full: this one runs alone, as appends did
            else:
                marks: list[tuple[int, int, int]] = []
                for b, (version, last_at) in zip(job.batches, starts, strict=True):
                    claimed.add(b.stream)
                    at = now_us if now_us > last_at else last_at
                    _add_rows(values, b, version, at)
                    count += len(b.events)
                    last = version + len(b.events)
                    versions.append((b.stream, last, at))
                    marks.append((version + 1, last, count))
                ends.append((k, marks))
        if refused:
            # A refused job may be a retry of a stored append (which gets its
            # original result): when any of their ids is stored, they run alone.
            ids = [e.id.bytes for k, _ in refused for b in appends[k].batches for e in b.events]
            if not _any_stored(conn, ids):
                for k, error in refused:
                    results[k] = error
        if values:
            # One writer inserts the rows in order, so their positions are consecutive
            # (AUTOINCREMENT: each row gets the largest position so far plus one).
            before = _insert_padded(conn, values) - count
            conn.execute(_UPSERT_VERSIONS_JSON, (_json(versions),))
            for k, marks in ends:
                results[k] = [AppendResult(first, last, before + row) for first, last, row in marks]
        return results


def _any_stored(conn: sqlite3.Connection, ids: list[bytes]) -> bool:
    """Whether any of the event ``ids`` is stored (one statement per 256 ids)."""
    for i in range(0, len(ids), _LOOKUP_MAX):
        chunk = ids[i : i + _LOOKUP_MAX]
        size = 1 << (len(chunk) - 1).bit_length()
        chunk += [chunk[-1]] * (size - len(chunk))
        if conn.execute(_ANY_STORED[size], chunk).fetchall():
            return True
    return False


def _prune(conn: sqlite3.Connection, stream: str, now_us: int) -> None:
    """Remove the events that the stream's limits no longer keep."""
    version, _hard, hidden, max_count, max_age, _last = _stream_row(conn, stream)
    if max_count is None and max_age is None:
        return
    keep_from = hidden
    if max_count is not None:
        keep_from = max(keep_from, version - max_count + 1)
    if max_age is not None:
        rows = conn.execute(
            "SELECT max(version) FROM eventflux_events WHERE stream = ? AND recorded_at < ?",
            (stream, now_us - max_age),
        ).fetchall()
        if rows and rows[0][0] is not None:
            keep_from = max(keep_from, rows[0][0] + 1)
    conn.execute(
        "DELETE FROM eventflux_events WHERE stream = ? AND version < ?", (stream, keep_from)
    )
    conn.execute(
        "UPDATE eventflux_streams SET hidden_before = ? WHERE name = ?", (keep_from, stream)
    )


def delete_stream(conn: sqlite3.Connection, stream: str, hard: bool, now_us: int) -> None:
    """Soft: hide every current event from ``read``. Hard: erase and forbid appends."""
    if hard:
        conn.execute("DELETE FROM eventflux_events WHERE stream = ?", (stream,))
        conn.execute("DELETE FROM eventflux_snapshots WHERE stream = ?", (stream,))
        conn.execute(
            "INSERT INTO eventflux_streams (name, hard_deleted) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET hard_deleted = 1",
            (stream,),
        )
    else:
        conn.execute(
            "UPDATE eventflux_streams SET hidden_before = version + 1 WHERE name = ?", (stream,)
        )


def _micros(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


def set_stream_limits(
    conn: sqlite3.Connection, stream: str, limits: StreamLimits, now_us: int
) -> None:
    """Store the stream's limits and apply them at once."""
    max_age = None if limits.max_age is None else max(1, _micros(limits.max_age))
    conn.execute(
        "INSERT INTO eventflux_streams (name, max_count, max_age_us) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET max_count = excluded.max_count, "
        "max_age_us = excluded.max_age_us",
        (stream, limits.max_count, max_age),
    )
    _prune(conn, stream, now_us)


def save_snapshot(
    conn: sqlite3.Connection,
    stream: str,
    version: int,
    type_name: str,
    data: bytes,
    schema_version: int,
    now_us: int,
) -> None:
    """Replace the stream's snapshot."""
    conn.execute(
        "INSERT OR REPLACE INTO eventflux_snapshots "
        "(stream, version, type, data, schema_version, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        (stream, version, type_name, data, schema_version, now_us),
    )
