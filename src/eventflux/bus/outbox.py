"""The outbox relay: publish the events of an event store to a bus, at least once.

The relay follows the store's global order (``store.subscribe(after=...)``),
publishes each event with its id as ``msg_id`` (so a re-publish after a crash
is dropped by the bus's dedup window, and idempotent consumers skip it
anyway), and saves its checkpoint (the last published position) after each
batch. A relay restarted after a crash resumes from the checkpoint.

By default the subject is ``f"{prefix}.{event.type}"``, the key is the stream
name (events of one stream are handled in order by each group) and the
checkpoint is kept with the bus (a table of the SQLite bus, memory for the
in-memory bus); pass ``checkpoint=FileCheckpoint(path)`` for other buses.

Example::

    async with OutboxRelay(store, bus, subject="bank"):   # publishes bank.Deposited ...
        ...   # events appended to the store reach the bus's subscribers

    relay = OutboxRelay(store, bus, subject=lambda e: f"accounts.{e.stream}.{e.type}")
    published = await relay.run_once()   # catch up, then return
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import msgspec

from .._internal.retrying import while_unavailable
from ..events import CAUSATION_ID, CORRELATION_ID, RecordedEvent
from ..store import EventStore
from .facade import MessageBus
from .message import OutgoingMessage

__all__ = [
    "BusCheckpoint",
    "Checkpoint",
    "FileCheckpoint",
    "MemoryCheckpoint",
    "OutboxRelay",
    "event_subject",
]

log = logging.getLogger("eventflux.bus.outbox")
_UNSAFE = re.compile(r"[\s*>]+")


class Checkpoint(abc.ABC):
    """Where a relay keeps the position of the last event it published."""

    @abc.abstractmethod
    async def load(self) -> int:
        """The saved position (0 when none was saved)."""

    @abc.abstractmethod
    async def save(self, position: int) -> None: ...


class MemoryCheckpoint(Checkpoint):
    """A checkpoint in memory (lost with the process: for tests)."""

    def __init__(self, position: int = 0) -> None:
        self.position = position

    async def load(self) -> int:
        return self.position

    async def save(self, position: int) -> None:
        self.position = position


class FileCheckpoint(Checkpoint):
    """A checkpoint in a small text file, replaced atomically on each save."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def load(self) -> int:
        try:
            text = await asyncio.to_thread(self.path.read_text)
        except FileNotFoundError:
            return 0
        return int(text.strip() or 0)

    async def save(self, position: int) -> None:
        def write() -> None:
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w") as f:
                f.write(f"{position}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

        await asyncio.to_thread(write)


class BusCheckpoint(Checkpoint):
    """A named checkpoint kept by the bus itself (SQLite: a table of the bus file;
    NATS: the bus's meta stream), through the backend interface."""

    def __init__(self, bus: MessageBus, name: str) -> None:
        self.bus = bus
        self.name = name

    async def load(self) -> int:
        value = await self.bus.backend.load_checkpoint(self.name)
        return 0 if value is None else value

    async def save(self, position: int) -> None:
        await self.bus.backend.save_checkpoint(self.name, position)


def event_subject(prefix: str) -> Callable[[RecordedEvent], str]:
    """Subjects ``f"{prefix}.{event.type}"`` (spaces and wildcards become ``_``)."""

    subjects: dict[str, str] = {}  # by event type

    def subject(event: RecordedEvent) -> str:
        found = subjects.get(event.type)
        if found is None:
            found = f"{prefix}.{_UNSAFE.sub('_', event.type)}"
            if len(subjects) < 10_000:
                subjects[event.type] = found
        return found

    return subject


def stream_key(event: RecordedEvent) -> str | None:
    """The default key: the event's stream (per-stream order in every group)."""
    return event.stream


def _plain(data: Any) -> Any:
    if type(data) is dict:
        return data
    if hasattr(data, "__dataclass_fields__") or isinstance(data, msgspec.Struct):
        return msgspec.to_builtins(data)
    if isinstance(data, Mapping):
        return data
    if hasattr(data, "model_dump"):  # pydantic
        return data.model_dump(mode="json")
    return msgspec.to_builtins(data)


class OutboxRelay:
    """Publishes stored events to a bus at least once, checkpointed, in order."""

    def __init__(
        self,
        store: EventStore,
        bus: MessageBus,
        *,
        subject: str | Callable[[RecordedEvent], str] = "events",
        key: Callable[[RecordedEvent], str | None] | None = stream_key,
        name: str = "outbox",
        checkpoint: Checkpoint | None = None,
        batch_size: int = 500,
        types: Iterable[str] | None = None,
        stream_prefix: str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.store = store
        self.bus = bus
        self.subject = event_subject(subject) if isinstance(subject, str) else subject
        self.key = key
        self.name = name
        self.checkpoint = checkpoint if checkpoint is not None else BusCheckpoint(bus, name)
        self.batch_size = batch_size
        self.types = None if types is None else tuple(types)
        self.stream_prefix = stream_prefix
        self.position: int | None = None
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def _message(self, e: RecordedEvent) -> OutgoingMessage:
        event_id = str(e.id)
        meta = e.metadata
        correlation = meta.get(CORRELATION_ID)
        headers = {
            "event_type": e.type,
            "stream": e.stream,
            "version": str(e.version),
            "position": str(e.position),
            CORRELATION_ID: event_id if correlation is None else str(correlation),
            CAUSATION_ID: event_id,  # the event caused this message
        }
        actor = meta.get("actor")
        if actor is not None:
            headers["actor"] = str(actor)
        key = self.key(e) if self.key is not None else None
        return OutgoingMessage(self.subject(e), _plain(e.data), event_id, key, headers)

    async def _load(self) -> int:
        if self.position is None:
            self.position = await while_unavailable(
                self.checkpoint.load, self._retrying("loading"), give_up=self._stop.is_set
            )
        return self.position

    def _retrying(self, what: str) -> Callable[[Exception, float], None]:
        def warn(e: Exception, pause: float) -> None:
            log.warning(
                "outbox %r: %s the checkpoint failed, retry in %.2gs: %s", self.name, what, pause, e
            )

        return warn

    async def _publish(self, batch: list[RecordedEvent]) -> None:
        messages = [self._message(e) for e in batch]

        def warn(e: Exception, pause: float) -> None:
            log.warning("outbox %r: publishing failed, retry in %.2gs: %s", self.name, pause, e)

        await while_unavailable(
            lambda: self.bus.publish_many(messages),
            warn,
            retry=(Exception,),
            never=(TypeError, ValueError),  # bad data or subject: retrying cannot help
            give_up=self._stop.is_set,
        )
        self.position = batch[-1].position
        await self._save(self.position)
        self.published += len(batch)

    async def _save(self, position: int) -> None:
        """Save the checkpoint, waiting out a bus outage (unless stopping)."""
        await while_unavailable(
            lambda: self.checkpoint.save(position),
            self._retrying("saving"),
            give_up=self._stop.is_set,
        )

    async def run_once(self) -> int:
        """Publish every event stored after the checkpoint; return how many."""
        start = self.published
        after = await self._load()
        batch: list[RecordedEvent] = []
        async for e in self.store.read_all(
            after=after, types=self.types, stream_prefix=self.stream_prefix
        ):
            batch.append(e)
            if len(batch) >= self.batch_size:
                await self._publish(batch)
                batch = []
        if batch:
            await self._publish(batch)
        return self.published - start

    async def run(self) -> None:
        """Catch up, then publish new events as they are stored, until :meth:`stop`."""
        after = await self._load()
        queue: asyncio.Queue[RecordedEvent] = asyncio.Queue(self.batch_size * 2)

        async def pump() -> None:
            async for e in self.store.subscribe(
                after=after, types=self.types, stream_prefix=self.stream_prefix
            ):
                await queue.put(e)

        pumping = asyncio.get_running_loop().create_task(pump())
        stopping = asyncio.get_running_loop().create_task(self._stop.wait())
        try:
            while not self._stop.is_set():
                getting = asyncio.get_running_loop().create_task(queue.get())
                await asyncio.wait({getting, stopping, pumping}, return_when="FIRST_COMPLETED")
                if not getting.done():
                    getting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getting
                    if pumping.done():
                        pumping.result()  # the store failed or closed
                    break
                batch = [getting.result()]
                while len(batch) < self.batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._publish(batch)
        finally:
            for task in (pumping, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def start(self) -> asyncio.Task[None]:
        """Run the relay in a background task (returned)."""
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def stop(self) -> None:
        """Finish the batch in flight, save the checkpoint and stop."""
        self._stop.set()
        if self._task is not None:
            try:
                await self._task
            finally:
                self._task = None

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
