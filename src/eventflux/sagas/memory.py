"""What one process remembers of a saga's instances.

A reaction starts from the instance as this process last committed or read
it, instead of reading its stream each time. A memory that is out of date
(another process reacted meanwhile, an administrator changed a deadline)
costs nothing more than a retry: the reaction's append names the version it
reacted on, the store refuses a stale one, and the reactor reads the stream
and reacts again.

Each remembered instance is kept encoded (JSON bytes), not as Python objects:
ten thousand instances in memory would otherwise be hundreds of thousands of
objects for the garbage collector to walk, and its pauses would delay
reactions and deadlines.

Example::

    instances = Instances("Fulfilment", store)
    inst = await instances.load("o-1")
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import orjson

from ..store import EventStore
from .records import Deadline, Instance, fold
from .records import stream_name as instance_stream

__all__ = ["Instances", "after"]

#: Instances one process remembers (the least recently used are forgotten).
_REMEMBERED: Final = 10_000


class Instances:
    """The instances of one saga, as this process last saw them."""

    def __init__(self, saga: str, store: EventStore) -> None:
        self.saga = saga
        self.store = store
        self._known: OrderedDict[str, bytes] = OrderedDict()

    async def load(self, key: str, *, fresh: bool = False, new: bool = False) -> Instance:
        """The instance ``key``: as this process last committed or read it, or
        as its stream says now with ``fresh`` (``exists`` is False if there is
        none). With ``new``, an instance this process does not know is taken
        to be new, unread (creating it fails if it exists, and is then read)."""
        if not fresh:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return _decode(self.saga, known)
            if new:
                return Instance(self.saga, key)
        events = [e async for e in self.store.read(instance_stream(self.saga, key))]
        instance = fold(self.saga, key, events)
        if instance.exists:
            self.remember(instance)
        else:
            self.forget(key)
        return instance

    def remember(self, instance: Instance) -> None:
        self._known[instance.key] = _encode(instance)
        self._known.move_to_end(instance.key)
        if len(self._known) > _REMEMBERED:
            self._known.popitem(last=False)

    def forget(self, key: str) -> None:
        self._known.pop(key, None)


def _encode(inst: Instance) -> bytes:
    """What a reaction needs of an instance, as JSON bytes."""
    return orjson.dumps(
        {
            "k": inst.key,
            "v": inst.version,
            "s": inst.state,
            "d": {n: [d.due.isoformat(), d.seq] for n, d in inst.deadlines.items()},
            "c": inst.compensations,
            "f": inst.finished,
            "o": inst.outcome,
            "r": inst.correlation_id,
            "a": inst.actor,
            "h": {
                i: [str(inst.event_ids[i]), d.get("out") or [], d.get("correlation_id"),
                    d.get("actor")]
                for i, d in inst.handled.items()
            },
        }
    )  # fmt: skip


def _decode(saga: str, raw: bytes) -> Instance:
    doc = orjson.loads(raw)
    handled: dict[str, dict[str, Any]] = {}
    event_ids: dict[str, UUID] = {}
    for input_id, (event_id, out, correlation, actor) in doc["h"].items():
        handled[input_id] = {"out": out, "correlation_id": correlation, "actor": actor}
        event_ids[input_id] = UUID(event_id)
    return Instance(
        saga,
        doc["k"],
        doc["v"],
        doc["s"],
        {n: Deadline(datetime.fromisoformat(due), seq) for n, (due, seq) in doc["d"].items()},
        doc["c"],
        doc["f"],
        doc["o"],
        doc["r"],
        doc["a"],
        handled=handled,
        event_ids=event_ids,
    )


def after(
    inst: Instance,
    version: int,
    data: dict[str, Any],
    deadlines: dict[str, Deadline],
    event_id: UUID,
) -> Instance:
    """The instance after a reaction committed as ``data`` at ``version``."""
    input_id = data["input"]["id"]
    handled = dict(inst.handled)
    handled[input_id] = data
    event_ids = dict(inst.event_ids)
    event_ids[input_id] = event_id
    return Instance(
        inst.saga,
        inst.key,
        version,
        data["state"],
        deadlines,
        list(data["compensations"]),
        bool(data["finished"]),
        data.get("outcome"),
        data.get("correlation_id"),
        data.get("actor"),
        inst.started_at,
        inst.updated_at,
        handled,
        data,
        event_ids,
    )
