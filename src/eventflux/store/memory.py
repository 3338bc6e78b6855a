"""In-process event store: fast, not durable, for tests and single-process apps.

``open_store("memory://")`` returns a fresh, empty store each call. Events are
kept encoded, so each read decodes its own copy (mutating a read event never
changes the store), exactly like the durable backends.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Self
from urllib.parse import SplitResult

from .._internal.urls import int_option, reject_unknown_options
from ..codec import Codec
from ..events import AppendResult, RecordedEvent
from ..exceptions import ConcurrencyError, StreamDeletedError
from .base import (
    DEFAULT_MAX_EVENT_BYTES,
    AppendBatch,
    EventStore,
    StreamLimits,
    check_idempotent_retry,
    version_matches,
)

__all__ = ["MemoryEventStore"]


class _Row(NamedTuple):
    id: Any
    stream: str
    version: int
    position: int
    type: str
    data: bytes
    metadata: bytes
    schema_version: int
    recorded_at: datetime


@dataclass
class _Stream:
    version: int = 0
    rows: list[_Row] = field(default_factory=list)
    hidden_before: int = 1  # versions below this are soft-deleted or pruned
    hard_deleted: bool = False
    limits: StreamLimits = field(default_factory=StreamLimits)


class MemoryEventStore(EventStore):
    """Event store held in this process's memory."""

    def __init__(
        self, *, codec: Codec | None = None, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ):
        super().__init__(codec=codec, max_event_bytes=max_event_bytes)
        self._lock = threading.Lock()
        self._log: list[_Row] = []
        self._positions: list[int] = []
        self._streams_: dict[str, _Stream] = {}
        self._ids: dict[Any, tuple[str, int, int]] = {}
        self._next_position = 1
        self._last_recorded = datetime.min.replace(tzinfo=UTC)
        self._snapshots: dict[str, tuple[int, str, bytes, int, datetime]] = {}

    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        max_bytes = int_option(options, "max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
        reject_unknown_options(options, "memory")
        return cls(codec=codec, max_event_bytes=max_bytes)

    async def _close(self) -> None:
        pass

    # -- writing ------------------------------------------------------------------
    async def _append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        with self._lock:
            plan: list[tuple[AppendBatch, AppendResult | None]] = []
            for b in batches:
                st = self._streams_.get(b.stream)
                if st is not None and st.hard_deleted:
                    raise StreamDeletedError(b.stream)
                stored = {e.id: self._ids[e.id] for e in b.events if e.id in self._ids}
                retry = check_idempotent_retry(b, stored)
                if retry is None:
                    actual = 0 if st is None else st.version
                    if not version_matches(b.expected_version, actual):
                        raise ConcurrencyError(b.stream, b.expected_version, actual)
                plan.append((b, retry))
            now = max(datetime.now(UTC), self._last_recorded)
            self._last_recorded = now
            results: list[AppendResult] = []
            for b, retry in plan:
                if retry is not None:
                    results.append(retry)
                    continue
                st = self._streams_.setdefault(b.stream, _Stream())
                first = st.version + 1
                for e in b.events:
                    st.version += 1
                    pos = self._next_position
                    self._next_position += 1
                    row = _Row(
                        e.id,
                        b.stream,
                        st.version,
                        pos,
                        e.type,
                        e.data,
                        e.metadata,
                        e.schema_version,
                        now,
                    )
                    st.rows.append(row)
                    self._log.append(row)
                    self._positions.append(pos)
                    self._ids[e.id] = (b.stream, st.version, pos)
                results.append(AppendResult(first, st.version, self._next_position - 1))
                self._prune(st, now)
            return results

    def _prune(self, st: _Stream, now: datetime) -> None:
        keep_from = st.hidden_before
        lim = st.limits
        if lim.max_count is not None:
            keep_from = max(keep_from, st.version - lim.max_count + 1)
        if lim.max_age is not None:
            cutoff = now - lim.max_age
            for r in st.rows:
                if r.recorded_at >= cutoff:
                    break
                keep_from = max(keep_from, r.version + 1)
        if lim.max_count is None and lim.max_age is None:
            return
        dropped = [r for r in st.rows if r.version < keep_from]
        if dropped:
            self._remove_rows(st, dropped)
        st.hidden_before = keep_from

    def _remove_rows(self, st: _Stream, rows: list[_Row]) -> None:
        gone = {r.position for r in rows}
        st.rows = [r for r in st.rows if r.position not in gone]
        self._log = [r for r in self._log if r.position not in gone]
        self._positions = [r.position for r in self._log]
        for r in rows:
            self._ids.pop(r.id, None)

    # -- reading ------------------------------------------------------------------
    def _visible(self, st: _Stream) -> list[_Row]:
        rows = [r for r in st.rows if r.version >= st.hidden_before]
        if st.limits.max_count is not None:
            rows = rows[-st.limits.max_count :]
        if st.limits.max_age is not None:
            cutoff = datetime.now(UTC) - st.limits.max_age
            rows = [r for r in rows if r.recorded_at >= cutoff]
        return rows

    async def _read(
        self,
        stream: str,
        from_version: int | None,
        backwards: bool,
        limit: int | None,
        as_of: datetime | None,
    ) -> AsyncIterator[RecordedEvent]:
        with self._lock:
            st = self._streams_.get(stream)
            rows = [] if st is None or st.hard_deleted else self._visible(st)
        if as_of is not None:
            rows = [r for r in rows if r.recorded_at <= as_of]
        if backwards:
            rows.reverse()
            if from_version is not None:
                rows = [r for r in rows if r.version <= from_version]
        elif from_version is not None:
            rows = [r for r in rows if r.version >= from_version]
        if limit is not None:
            rows = rows[:limit]
        for r in rows:
            yield self._decode(*r)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> tuple[list[RecordedEvent], int]:
        out: list[_Row] = []
        with self._lock:
            start = bisect.bisect_right(self._positions, after)
            mark = self._next_position - 1
            type_set = None if types is None else set(types)
            for r in self._log[start:]:
                if type_set is not None and r.type not in type_set:
                    continue
                if prefix is not None and not r.stream.startswith(prefix):
                    continue
                out.append(r)
                if len(out) >= limit:
                    mark = r.position
                    break
        return [self._decode(*r) for r in out], max(mark, after)

    async def _stream_version(self, stream: str) -> int:
        st = self._streams_.get(stream)
        return 0 if st is None else st.version

    async def _last_position(self) -> int:
        return self._positions[-1] if self._positions else 0

    async def _streams(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(
                name
                for name, st in self._streams_.items()
                if name.startswith(prefix)
                and not st.hard_deleted
                and st.hidden_before <= st.version
            )

    async def _delete_stream(self, stream: str, hard: bool) -> None:
        with self._lock:
            st = self._streams_.get(stream)
            if st is None:
                if not hard:
                    return
                st = self._streams_[stream] = _Stream()
            if hard:
                self._remove_rows(st, list(st.rows))
                st.hard_deleted = True
                self._snapshots.pop(stream, None)
            else:
                st.hidden_before = st.version + 1

    async def _set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        with self._lock:
            st = self._streams_.setdefault(stream, _Stream())
            st.limits = limits
            self._prune(st, datetime.now(UTC))

    async def _stream_limits(self, stream: str) -> StreamLimits:
        st = self._streams_.get(stream)
        return StreamLimits() if st is None else st.limits

    async def _save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        self._snapshots[stream] = (version, type_name, data, schema_version, datetime.now(UTC))

    async def _load_snapshot(self, stream: str) -> tuple[int, str, bytes, int, datetime] | None:
        return self._snapshots.get(stream)
