"""Reading the global log of the PostgreSQL event store.

Pages are decoded straight into :class:`RecordedEvent`. A live subscription
outlives outages: when the server cannot be reached it waits (polling, with
backoff) and resumes after the last page it delivered, so nothing is lost or
delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from ..events import RecordedEvent
from ..exceptions import StoreUnavailableError

if TYPE_CHECKING:
    from .postgres import PostgresEventStore

__all__ = ["decode_page", "iter_live"]

Page = tuple[list[RecordedEvent], int]


def _position(e: RecordedEvent) -> int:
    return e.position


def decode_page(
    store: PostgresEventStore, rows: list[tuple[Any, ...]], after: int, limit: int
) -> Page:
    """Events of one ``read_all`` row set (the head position, then the event's
    columns) and the page's mark (see ``EventStore._read_all_page``)."""
    decode_data = store.codec.decode_data
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
        return events, events[-1].position
    head = int(rows[0][0]) if rows else after
    return events, max(head, after)


async def iter_live(
    store: PostgresEventStore,
    after: int,
    types: tuple[str, ...] | None,
    prefix: str | None,
) -> AsyncIterator[RecordedEvent]:
    """The live loop of ``EventStore._iter_live``, plus waiting out outages."""
    delay = 0.05
    n = store.page_size
    while not store.closed:
        generation = store._generation
        try:
            events, mark = await store._read_all_page(after, n, types, prefix)
        except StoreUnavailableError:
            # closing the store wakes this wait, and the loop ends
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store._changed.wait(), delay)
            delay = min(delay * 2, 1.0)
            continue
        delay = 0.05
        for e in events:
            yield e
        after = mark
        if len(events) < n:
            await store._wait_for_change(generation)
