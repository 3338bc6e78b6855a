"""A repository's snapshots: when to take one, and which stored one to start from.

A snapshot only saves replay time, it is never the truth: one that cannot be
read, restored or followed on by the stream's events is ignored and the
stream replayed.

Example::

    snapshots = Snapshots(store, Account, every=100)
    account = await snapshots.load("42", "account-42", as_of=None, version=None)
    ...
    await snapshots.after_save("account-42", account, old_version)
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from typing import Generic, TypeVar

from ..exceptions import DeserializationError, EventfluxError
from ..store import EventStore, Snapshot
from .aggregate import Aggregate

__all__ = ["SEEN_STREAMS", "Snapshots"]

A = TypeVar("A", bound=Aggregate)
log = logging.getLogger("eventflux.es")
#: how many stream versions a repository remembers (to skip needless snapshot reads)
SEEN_STREAMS = 10_000


class Snapshots(Generic[A]):
    """Snapshots of ``aggregate_type`` every ``every`` events (None: never)."""

    def __init__(self, store: EventStore, aggregate_type: type[A], every: int | None) -> None:
        self.store = store
        self.aggregate_type = aggregate_type
        self.every = every
        # Stream versions seen lately: a stream last seen shorter than
        # ``every`` most likely has no snapshot, so loading skips asking.
        self._seen: OrderedDict[str, int] = OrderedDict()

    def saw(self, stream: str, version: int) -> None:
        """Remember that ``stream`` was at ``version``."""
        if self.every is None:
            return
        self._seen[stream] = version
        self._seen.move_to_end(stream)
        if len(self._seen) > SEEN_STREAMS:
            self._seen.popitem(last=False)

    async def load(
        self, aggregate_id: str, stream: str, as_of: datetime | None, version: int | None
    ) -> A | None:
        """The aggregate from its latest usable snapshot plus the events after it
        (up to ``as_of`` / ``version``), or None: replay the stream instead."""
        snap = await self._usable(stream, version)
        if snap is None:
            return None
        return await self._from(aggregate_id, snap, as_of, version)

    async def after_save(self, stream: str, aggregate: A, old_version: int) -> None:
        """Take a snapshot if the save from ``old_version`` crossed a multiple of
        ``every``; a failure is logged (the events are stored all the same)."""
        every = self.every
        if every is None or aggregate.version // every == old_version // every:
            return
        try:
            await self.store.save_snapshot(stream, aggregate.version, aggregate.snapshot())
        except (EventfluxError, TypeError, ValueError) as e:
            # the events are stored; a missing snapshot only costs replay time
            log.warning("could not snapshot %s at version %d: %s", stream, aggregate.version, e)

    async def _usable(self, stream: str, version: int | None) -> Snapshot | None:
        state_type = self.aggregate_type.snapshot_type
        if self.every is None or state_type is None:
            return None
        seen = self._seen.get(stream)
        if seen is not None and seen < self.every:
            return None  # it had no snapshot when last seen and has probably none yet
        try:
            snap = await self.store.load_snapshot(stream)
        except DeserializationError as e:
            log.info("ignoring the unreadable snapshot of %s: %s", stream, e)
            return None
        if snap is None or (version is not None and snap.version > version):
            return None
        codec = self.store.codec
        if (
            codec.class_for(snap.type) is not state_type
            or snap.schema_version > codec.schema_version(snap.type)
            or not isinstance(snap.data, state_type)
        ):
            log.info(
                "ignoring the snapshot of %s: type %r schema %d is not %s at schema %d",
                stream,
                snap.type,
                snap.schema_version,
                state_type.__name__,
                codec.schema_version(snap.type),
            )
            return None
        return snap

    async def _from(
        self, aggregate_id: str, snap: Snapshot, as_of: datetime | None, version: int | None
    ) -> A | None:
        """The aggregate from ``snap`` plus the events after it, or None when the
        snapshot does not fit (restore failed, a gap, or it is later than ``as_of``)."""
        aggregate = self.aggregate_type(aggregate_id)
        try:
            aggregate.restore(snap.data)
        except Exception:
            log.warning(
                "snapshot of %s could not be restored; replaying", snap.stream, exc_info=True
            )
            return None
        aggregate.mark_saved(snap.version)
        # Read the snapshot's own last event too: the snapshot counts only if that
        # event is still in the stream (and, with as_of, was recorded by then).
        covered = False
        limit = None if version is None else version - snap.version + 1
        async for event in self.store.read(
            snap.stream, from_version=snap.version, as_of=as_of, limit=limit
        ):
            if not covered:
                if event.version != snap.version:
                    return None
                covered = True
                continue
            if event.version != aggregate.version + 1:
                return None  # events missing after the snapshot: replay from the start
            aggregate.replay_event(event.data, event.version)
        return aggregate if covered else None
