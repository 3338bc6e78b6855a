"""The SQLite store backend's reads, run on reader connections in worker threads.

Each function runs in one read transaction, so what it returns is one
consistent snapshot of the file, and fetches at most one page of rows.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID, SafeUUID

import orjson

from ...codec import Codec
from ...events import CORRELATION_ID, RecordedEvent
from ..types import StreamLimits
from .schema import CORRELATED, CORRELATION_OF

__all__ = [
    "EPOCH",
    "decode_rows",
    "log_query",
    "micros",
    "prefix_range",
    "read_all_page",
    "read_stream_page",
    "scalar",
    "stream_limits",
    "stream_names",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_COLUMNS: Final = "position, id, stream, version, type, data, metadata, schema_version, recorded_at"
_FAR: Final = 2**62

_new = object.__new__
_set_int = UUID.__dict__["int"].__set__
_set_safe = UUID.__dict__["is_safe"].__set__
_unknown = SafeUUID.unknown
_from_bytes = int.from_bytes


def micros(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly."""
    return (at - EPOCH) // _ONE_US


def decode_rows(codec: Codec, rows: Iterable[Any]) -> list[RecordedEvent]:
    """Turn stored rows (in ``_COLUMNS`` order) into RecordedEvents.

    This is the hot path of every read: the uuid and datetime objects are
    built without their constructors' checks, and a transaction's time once.
    """
    decode_data = codec.decode_data
    loads = orjson.loads
    out: list[RecordedEvent] = []
    append = out.append
    last_us = -1
    last_at = EPOCH
    for position, raw_id, stream, version, type_name, data, meta, schema, at_us in rows:
        if at_us != last_us:  # the events of one transaction share their time
            last_us = at_us
            last_at = EPOCH + timedelta(microseconds=at_us)
        value = decode_data(type_name, data, schema)
        uid = _new(UUID)
        _set_int(uid, _from_bytes(raw_id))
        _set_safe(uid, _unknown)
        append(
            RecordedEvent(
                uid,
                stream,
                version,
                position,
                type_name,
                value,
                loads(meta) if meta else {},
                last_at,
            )
        )
    return out


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """Bounds [low, high) of the names that start with ``prefix`` in code-point order
    (SQLite compares UTF-8 text bytewise, which is code-point order)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:
            code = 0xE000  # surrogates cannot be stored
        if code <= sys.maxunicode:
            chars[-1] = chr(code)
            return prefix, "".join(chars)
        chars.pop()
    return prefix, None


def log_query(
    after: int,
    limit: int,
    types: tuple[str, ...] | None,
    prefix: str | None,
    correlation_id: str | None = None,
) -> tuple[str, list[Any], int]:
    """The statement of one global-log page, its parameters, and the index of
    ``after`` among them. With ``correlation_id`` it reads the correlation
    index (see :mod:`.schema`)."""
    where: list[str] = []
    params: list[Any] = []
    if correlation_id is not None:
        where.append(f"{CORRELATED} AND {CORRELATION_OF} = ?")
        params.append(correlation_id.split("\x00", 1)[0])  # what the index holds, see below
    where.append("position > ?")
    at = len(params)
    params.append(after)
    if types is not None:
        if not types:
            where.append("0")
        else:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
    if prefix is not None:
        low, high = prefix_range(prefix)
        where.append("stream >= ?")
        params.append(low)
        if high is not None:
            where.append("stream < ?")
            params.append(high)
    params.append(limit)
    sql = (
        f"SELECT {_COLUMNS} FROM eventflux_events WHERE {' AND '.join(where)} "
        "ORDER BY position LIMIT ?"
    )
    return sql, params, at


def read_all_page(
    conn: sqlite3.Connection,
    codec: Codec,
    after: int,
    limit: int,
    types: tuple[str, ...] | None,
    prefix: str | None,
    correlation_id: str | None = None,
) -> tuple[list[RecordedEvent], int]:
    """Up to ``limit`` events after ``after`` and the head position of the snapshot.

    The rows are decoded as the cursor yields them, inside the read
    transaction: no list of a page's raw rows is ever built (fewer live
    objects for the garbage collector to walk)."""
    sql, params, at = log_query(after, limit, types, prefix, correlation_id)
    conn.execute("BEGIN")
    try:
        head = conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'eventflux_events'"
        ).fetchall()
        if correlation_id is None:
            events = decode_rows(codec, conn.execute(sql, params))
        else:
            events = _correlated(conn, codec, sql, params, at, limit, correlation_id)
    finally:
        conn.execute("COMMIT")
    return events, (int(head[0][0]) if head else 0)


def _correlated(
    conn: sqlite3.Connection,
    codec: Codec,
    sql: str,
    params: list[Any],
    at: int,
    limit: int,
    correlation_id: str,
) -> list[RecordedEvent]:
    """The events of a correlation-id page. SQLite's JSON functions end a string
    at a NUL character, so the index holds an id up to its first NUL, and the
    lookup is by that part: rows whose id only starts like the one asked for
    are dropped here, and the scan goes on until the page is full or the index
    has no more rows."""
    events: list[RecordedEvent] = []
    while True:
        want = limit - len(events)
        params[-1] = want
        rows = decode_rows(codec, conn.execute(sql, params))
        events.extend(e for e in rows if e.metadata.get(CORRELATION_ID) == correlation_id)
        if len(rows) < want or len(events) >= limit:
            return events
        params[at] = rows[-1].position


_STREAM_COLUMNS: Final = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))


def read_stream_page(
    conn: sqlite3.Connection,
    stream: str,
    start: int | None,
    backwards: bool,
    limit: int,
    as_of: int | None,
    now_us: int,
) -> sqlite3.Cursor:
    """Up to ``limit`` visible rows of ``stream`` from version ``start`` (inclusive),
    as a cursor to decode (see :func:`read_all_page`).

    One statement (one snapshot): the stream's row says which versions are
    visible (soft delete, ``max_count``, ``max_age`` measured from ``now_us``,
    hard delete); a missing stream joins no row and reads as empty.
    """
    where = [
        "s.name = ?",
        "s.hard_deleted = 0",
        "e.version >= s.hidden_before",
        "(s.max_count IS NULL OR e.version > s.version - s.max_count)",
        "(s.max_age_us IS NULL OR e.recorded_at >= ? - s.max_age_us)",
    ]
    params: list[Any] = [stream, now_us]
    if backwards:
        where.append("e.version <= ?")
        params.append(_FAR if start is None else start)
    elif start is not None:
        where.append("e.version >= ?")
        params.append(start)
    if as_of is not None:
        where.append("e.recorded_at <= ?")
        params.append(as_of)
    params.append(limit)
    order = "DESC" if backwards else "ASC"
    return conn.execute(
        f"SELECT {_STREAM_COLUMNS} FROM eventflux_streams AS s "
        "JOIN eventflux_events AS e ON e.stream = s.name "
        f"WHERE {' AND '.join(where)} ORDER BY e.version {order} LIMIT ?",
        params,
    )


def stream_names(conn: sqlite3.Connection, prefix: str) -> list[str]:
    low, high = prefix_range(prefix)
    sql = (
        "SELECT name FROM eventflux_streams WHERE hard_deleted = 0 "
        "AND hidden_before <= version AND name >= ?"
    )
    params: list[Any] = [low]
    if high is not None:
        sql += " AND name < ?"
        params.append(high)
    return [str(r[0]) for r in conn.execute(sql + " ORDER BY name", params).fetchall()]


def stream_limits(conn: sqlite3.Connection, stream: str) -> StreamLimits:
    rows = conn.execute(
        "SELECT max_count, max_age_us FROM eventflux_streams WHERE name = ?", (stream,)
    ).fetchall()
    if not rows:
        return StreamLimits()
    max_count, max_age = rows[0]
    return StreamLimits(max_count, None if max_age is None else timedelta(microseconds=max_age))


def scalar(conn: sqlite3.Connection, sql: str, params: Iterable[Any] = ()) -> Any:
    rows = conn.execute(sql, tuple(params)).fetchall()
    return rows[0][0] if rows else None
