"""A small store backend kept in dicts: the example of docs/backends.md.

It is written against the public backend interface alone
(:mod:`eventflux.store.backend` and names ``eventflux`` exports) and passes
the whole store contract suite (``tests/store/test_dict_backend.py``). It
aims at being read, not at speed: reads scan lists.

Every method runs on the event loop without awaiting anything in between,
so each one is atomic: no lock is needed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventflux import (
    AppendResult,
    Codec,
    ConcurrencyError,
    RecordedEvent,
    StreamDeletedError,
    StreamLimits,
)
from eventflux.store.backend import (
    AppendBatch,
    LogPage,
    StoreBackend,
    StoredSnapshot,
    check_idempotent_retry,
    decode_event,
    version_matches,
)

__all__ = ["DictStoreBackend"]


@dataclass(frozen=True)
class Row:
    """One stored event, encoded, in the argument order of ``decode_event``."""

    id: UUID
    stream: str
    version: int
    position: int
    type: str
    data: bytes
    metadata: bytes
    schema_version: int
    recorded_at: datetime
    correlation_id: str | None = None  # what read_all(correlation_id=...) finds it by

    def decode(self, codec: Codec) -> RecordedEvent:
        return decode_event(
            codec,
            self.id,
            self.stream,
            self.version,
            self.position,
            self.type,
            self.data,
            self.metadata,
            self.schema_version,
            self.recorded_at,
        )


@dataclass
class Stream:
    version: int = 0  # events ever appended
    hidden_before: int = 1  # lower versions are soft-deleted or dropped by the limits
    hard_deleted: bool = False
    limits: StreamLimits = field(default_factory=StreamLimits)
    rows: list[Row] = field(default_factory=list)  # stored events, in version order

    def first_kept(self, now: datetime) -> int:
        """The lowest version that the retention limits keep at ``now``."""
        first = self.hidden_before
        if self.limits.max_count is not None:
            first = max(first, self.version - self.limits.max_count + 1)
        if self.limits.max_age is not None:
            young = [r.version for r in self.rows if r.recorded_at >= now - self.limits.max_age]
            first = max(first, young[0] if young else self.version + 1)
        return first


class DictStoreBackend(StoreBackend):
    """Events in dicts and lists of this process (not durable)."""

    def __init__(self) -> None:
        self.log: dict[int, Row] = {}  # position -> event, in position order
        self.states: dict[str, Stream] = {}
        self.ids: dict[UUID, tuple[str, int, int]] = {}  # id -> (stream, version, position)
        self.snapshots: dict[str, StoredSnapshot] = {}
        self.position = 0  # the last position handed out
        self.last_time = datetime.min.replace(tzinfo=UTC)
        # the index of read_all(correlation_id=...): correlation id -> position -> event
        self.correlated: dict[str, dict[int, Row]] = {}
        self.id = str(uuid.uuid4())  # the store's identity (a new store each time)

    async def close(self) -> None:
        pass

    # -- writing --------------------------------------------------------------------------
    async def append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        # Check every batch first: an append is all or nothing.
        retries: list[AppendResult | None] = []
        for b in batches:
            stream = self.states.get(b.stream, Stream())
            if stream.hard_deleted:
                raise StreamDeletedError(b.stream)
            stored = {e.id: self.ids[e.id] for e in b.events if e.id in self.ids}
            retry = check_idempotent_retry(b, stored)
            if retry is None and not version_matches(b.expected_version, stream.version):
                raise ConcurrencyError(b.stream, b.expected_version, stream.version)
            retries.append(retry)
        now = self.last_time = max(datetime.now(UTC), self.last_time)  # never earlier
        results: list[AppendResult] = []
        for b, retry in zip(batches, retries, strict=True):
            if retry is not None:
                results.append(retry)
                continue
            stream = self.states.setdefault(b.stream, Stream())
            first = stream.version + 1
            for e in b.events:
                stream.version += 1
                self.position += 1
                row = Row(
                    e.id,
                    b.stream,
                    stream.version,
                    self.position,
                    e.type,
                    e.data,
                    e.metadata,
                    e.schema_version,
                    now,
                    e.correlation_id,
                )
                stream.rows.append(row)
                self.log[row.position] = row
                if row.correlation_id is not None:
                    self.correlated.setdefault(row.correlation_id, {})[row.position] = row
                self.ids[e.id] = (b.stream, row.version, row.position)
            results.append(AppendResult(first, stream.version, self.position))
            self._drop_old(stream, now)
        return results

    def _drop_old(self, stream: Stream, now: datetime) -> None:
        """Remove the events that the stream's limits no longer keep."""
        if stream.limits == StreamLimits():
            return
        stream.hidden_before = stream.first_kept(now)
        self._remove([r for r in stream.rows if r.version < stream.hidden_before])

    def _remove(self, rows: list[Row]) -> None:
        for r in rows:
            del self.log[r.position]
            del self.ids[r.id]
            if r.correlation_id is not None:
                del self.correlated[r.correlation_id][r.position]
            self.states[r.stream].rows.remove(r)

    async def delete_stream(self, stream: str, *, hard: bool) -> None:
        if hard:
            state = self.states.setdefault(stream, Stream())
            self._remove(list(state.rows))
            state.hard_deleted = True
            self.snapshots.pop(stream, None)
        elif stream in self.states:
            state = self.states[stream]
            state.hidden_before = state.version + 1

    async def set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        state = self.states.setdefault(stream, Stream())
        state.limits = limits
        self._drop_old(state, datetime.now(UTC))

    async def save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        self.snapshots[stream] = StoredSnapshot(
            version, type_name, data, schema_version, datetime.now(UTC)
        )

    # -- reading --------------------------------------------------------------------------
    async def read_stream_page(
        self,
        stream: str,
        start: int | None,
        limit: int,
        *,
        backwards: bool,
        as_of: datetime | None,
        now: datetime,
        codec: Codec,
    ) -> list[RecordedEvent]:
        state = self.states.get(stream)
        if state is None or state.hard_deleted:
            return []
        first = state.first_kept(now)
        rows = [r for r in state.rows if r.version >= first]
        if as_of is not None:
            rows = [r for r in rows if r.recorded_at <= as_of]
        if backwards:
            rows = [r for r in reversed(rows) if start is None or r.version <= start]
        else:
            rows = [r for r in rows if start is None or r.version >= start]
        return [r.decode(codec) for r in rows[:limit]]

    async def read_all_page(
        self,
        after: int,
        limit: int,
        *,
        types: tuple[str, ...] | None,
        prefix: str | None,
        codec: Codec,
        correlation_id: str | None = None,
    ) -> LogPage:
        found: list[Row] = []
        rows = self.log if correlation_id is None else self.correlated.get(correlation_id, {})
        for position, row in rows.items():
            if position <= after:
                continue
            if types is not None and row.type not in types:
                continue
            if prefix is not None and not row.stream.startswith(prefix):
                continue
            found.append(row)
            if len(found) == limit:
                return LogPage([r.decode(codec) for r in found], row.position)
        # Nothing is in flight in this backend: every position handed out is visible.
        return LogPage([r.decode(codec) for r in found], max(self.position, after))

    async def stream_version(self, stream: str) -> int:
        state = self.states.get(stream)
        return 0 if state is None else state.version

    async def last_position(self) -> int:
        return max(self.log, default=0)

    async def head_position(self) -> int:
        return self.position

    async def streams(self, prefix: str) -> list[str]:
        return sorted(
            name
            for name, state in self.states.items()
            if name.startswith(prefix)
            and not state.hard_deleted
            and state.hidden_before <= state.version  # not deleted, not emptied by limits
        )

    async def stream_limits(self, stream: str) -> StreamLimits:
        state = self.states.get(stream)
        return StreamLimits() if state is None else state.limits

    async def load_snapshot(self, stream: str) -> StoredSnapshot | None:
        return self.snapshots.get(stream)

    async def store_id(self) -> str:
        return self.id
