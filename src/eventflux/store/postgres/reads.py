"""Decoding the pages of the PostgreSQL store backend's global log.

A ``read_all`` statement returns the head position (how far the log is
complete for the statement's snapshot) with every row, and one row with no
event when the page is empty (see ``Statements.read_all`` in :mod:`.sql`).
"""

from __future__ import annotations

from typing import Any

import orjson

from ...codec import Codec
from ...events import RecordedEvent
from ..backend import LogPage

__all__ = ["decode_page"]


def _position(e: RecordedEvent) -> int:
    return e.position


def decode_page(codec: Codec, rows: list[tuple[Any, ...]], after: int, limit: int) -> LogPage:
    """Events of one ``read_all`` row set (the head position, then the event's
    columns) and the page's mark (see :class:`~eventflux.store.backend.LogPage`)."""
    decode_data = codec.decode_data
    loads = orjson.loads
    events: list[RecordedEvent] = []
    append = events.append
    for _, uid, stream, version, position, type_name, data, meta, schema, at in rows:
        if uid is None:
            continue  # the head row of an empty page
        value = decode_data(type_name, data, schema)  # plain JSON: one orjson call
        append(
            RecordedEvent(
                uid, stream, version, position, type_name, value, loads(meta) if meta else {}, at
            )
        )
    for i in range(1, len(events)):  # the rows come in order; make sure of it
        if events[i - 1].position >= events[i].position:
            events.sort(key=_position)
            break
    if len(events) >= limit:
        return LogPage(events, events[-1].position)
    head = int(rows[0][0]) if rows else after
    return LogPage(events, max(head, after))
