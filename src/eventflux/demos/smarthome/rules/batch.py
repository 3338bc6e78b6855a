"""One decision of the engine, recorded as one transaction.

Everything the engine decides while handling one device event or one timer
(a run started, a timer armed or cancelled, a wait ended, a run stopped for a
restart) is collected in a :class:`Batch` and appended with
``store.append_many``: all of it or none. What must happen in memory after
the commit (start a run's task, wake a waiting step) are the batch's effects.

Example::

    batch = Batch(session, input_position=r.position)
    fired = batch.add(stream, TIMER_FIRED, {...}, correlation_id=c, causation_id=t.event_id)
    batch.effects.append(lambda: run.future(path).set_result(data))
    await batch.commit()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ....events import CAUSATION_ID, CORRELATION_ID, NewEvent, uuid7
from ....exceptions import StoreUnavailableError
from ....store import ANY, EventStore

if TYPE_CHECKING:
    from .runs import RunHandle

__all__ = ["Batch", "append_retrying", "journal_event", "metadata"]

log = logging.getLogger("eventflux.demos.smarthome")


@dataclass(slots=True)
class _Entry:
    stream: str
    event: NewEvent
    run: RunHandle | None
    skip_if: Callable[[], bool] | None


async def append_retrying(
    store: EventStore, batches: Mapping[str, tuple[list[NewEvent], Any]]
) -> None:
    """``store.append_many`` through a store outage (waited out with backoff)."""
    delay = 0.05
    while True:
        try:
            await store.append_many(batches)
            return
        except StoreUnavailableError as e:
            log.warning("the store is unavailable (%s); retrying in %.2fs", e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def metadata(
    correlation_id: str, causation_id: str | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {CORRELATION_ID: correlation_id}
    if causation_id:
        meta[CAUSATION_ID] = causation_id
    if extra:
        meta.update(extra)
    return meta


class Batch:
    """Events to append together, and what to do once they are stored."""

    def __init__(self, store: EventStore, input_position: int | None = None) -> None:
        self.store = store
        self.input = input_position
        self.entries: list[_Entry] = []
        self.effects: list[Callable[[], Any]] = []

    def __bool__(self) -> bool:
        return bool(self.entries or self.effects)

    def add(
        self,
        stream: str,
        event_type: str,
        data: dict[str, Any],
        *,
        correlation_id: str,
        causation_id: str | None,
        run: RunHandle | None = None,
        skip_if: Callable[[], bool] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Add an event; returns its id (known now, for the causation of the next).

        ``run``: the event goes to that run's stream (its lock is taken for the
        commit, the run's metadata is used and its journal follows). ``skip_if`` is asked
        under the lock: True drops the event (the run recorded its end first).
        """
        if self.input is not None:
            data = {**data, "input": self.input}
        event_id = uuid7()
        meta = run.metadata() if run is not None else metadata(correlation_id, causation_id, extra)
        self.entries.append(
            _Entry(stream, NewEvent(event_type, data, meta, event_id), run, skip_if)
        )
        return str(event_id)

    async def commit(self) -> None:
        """Append every event in one transaction, then run the effects."""
        runs = sorted({id(e.run): e.run for e in self.entries if e.run}.values(), key=_stream)
        for run in runs:
            await run.lock.acquire()
        try:
            batches: dict[str, tuple[list[NewEvent], Any]] = {}
            kept = [e for e in self.entries if e.skip_if is None or not e.skip_if()]
            for e in kept:
                batches.setdefault(e.stream, ([], ANY))[0].append(e.event)
            if batches:
                await append_retrying(self.store, batches)
            for e in kept:
                if e.run is not None:
                    _journal(e.run, e.event)
        finally:
            for run in runs:
                run.lock.release()
        for effect in self.effects:
            effect()


def _stream(run: RunHandle) -> str:
    return run.stream


def _journal(run: RunHandle, event: NewEvent) -> None:
    """A run follows what was recorded in its stream: its steps."""
    data = event.data
    path = data.get("path") if isinstance(data, Mapping) else None
    if isinstance(path, str):
        run.journal.setdefault(path, {})[event.type] = data


def journal_event(run: RunHandle, event_type: str, data: Mapping[str, Any], event_id: UUID) -> None:
    """Record a run's own appended event in its journal."""
    _journal(run, NewEvent(event_type, data, None, event_id))
