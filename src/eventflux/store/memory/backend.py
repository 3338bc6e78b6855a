"""The in-process store backend: fast, not durable, for tests and single-process apps.

``open_store("memory://")`` returns a fresh, empty store each call. Events are
kept encoded, so each read decodes its own copy (mutating a read event never
changes the store), exactly like the durable backends.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, NamedTuple, Self
from urllib.parse import SplitResult

from ..._internal.urls import reject_unknown_options
from ...codec import Codec
from ...events import AppendResult, RecordedEvent
from ...exceptions import ConcurrencyError, StoreNotFoundError, StreamDeletedError
from ..backend import (
    AppendBatch,
    LogPage,
    StoreBackend,
    StoredSnapshot,
    check_idempotent_retry,
    decode_event,
    version_matches,
)
from ..types import StreamLimits

__all__ = ["MemoryStoreBackend"]


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


_version = attrgetter("version")
_position = attrgetter("position")
_recorded_at = attrgetter("recorded_at")


@dataclass
class _Stream:
    version: int = 0
    rows: list[_Row] = field(default_factory=list)  # by version, consecutive
    hidden_before: int = 1  # versions below this are soft-deleted or pruned
    hard_deleted: bool = False
    limits: StreamLimits = field(default_factory=StreamLimits)

    def first_visible(self, now: datetime) -> int:
        """The lowest version that ``read`` shows at ``now``."""
        first = self.hidden_before
        lim = self.limits
        if lim.max_count is not None:
            first = max(first, self.version - lim.max_count + 1)
        if lim.max_age is not None:
            i = bisect.bisect_left(self.rows, now - lim.max_age, key=_recorded_at)
            first = max(first, self.rows[i].version if i < len(self.rows) else self.version + 1)
        return first


class MemoryStoreBackend(StoreBackend):
    """Events held in this process's memory."""

    system = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[_Row] = []
        self._positions: list[int] = []
        self._streams: dict[str, _Stream] = {}
        self._ids: dict[Any, tuple[str, int, int]] = {}
        self._next_position = 1
        self._last_recorded = datetime.min.replace(tzinfo=UTC)
        self._snapshots: dict[str, StoredSnapshot] = {}
        # the index of read_all(correlation_id=...): rows by correlation id, in
        # position order, and the correlation id of each such row by position
        self._correlated: dict[str, list[_Row]] = {}
        self._correlation_of: dict[int, str] = {}
        self._id = str(uuid.uuid4())

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str], *, create: bool = True) -> Self:
        """A fresh, empty store (``memory://`` takes no options besides the
        facade's). There is never one to open without creating it."""
        reject_unknown_options(options, "memory")
        if not create:
            raise StoreNotFoundError(
                "a memory:// store exists only in the process that opened it; there is "
                "none to open here"
            )
        return cls()

    async def close(self) -> None:
        pass

    # -- writing ------------------------------------------------------------------
    async def append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        with self._lock:
            plan: list[tuple[AppendBatch, AppendResult | None]] = []
            for b in batches:
                st = self._streams.get(b.stream)
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
                st = self._streams.setdefault(b.stream, _Stream())
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
                    if e.correlation_id is not None:
                        self._correlated.setdefault(e.correlation_id, []).append(row)
                        self._correlation_of[pos] = e.correlation_id
                results.append(AppendResult(first, st.version, self._next_position - 1))
                self._prune(st, now)
            return results

    def _prune(self, st: _Stream, now: datetime) -> None:
        if st.limits.max_count is None and st.limits.max_age is None:
            return
        keep_from = st.first_visible(now)
        dropped = [r for r in st.rows if r.version < keep_from]
        if dropped:
            self._remove_rows(st, dropped)
        st.hidden_before = keep_from

    def _remove_rows(self, st: _Stream, rows: list[_Row]) -> None:
        gone = {r.position for r in rows}
        st.rows = [r for r in st.rows if r.position not in gone]
        self._log = [r for r in self._log if r.position not in gone]
        self._positions = [r.position for r in self._log]
        touched: set[str] = set()
        for r in rows:
            self._ids.pop(r.id, None)
            correlation = self._correlation_of.pop(r.position, None)
            if correlation is not None:
                touched.add(correlation)
        for correlation in touched:
            kept = [r for r in self._correlated[correlation] if r.position not in gone]
            if kept:
                self._correlated[correlation] = kept
            else:
                del self._correlated[correlation]

    async def delete_stream(self, stream: str, *, hard: bool) -> None:
        with self._lock:
            st = self._streams.get(stream)
            if st is None:
                if not hard:
                    return
                st = self._streams[stream] = _Stream()
            if hard:
                self._remove_rows(st, list(st.rows))
                st.hard_deleted = True
                self._snapshots.pop(stream, None)
            else:
                st.hidden_before = st.version + 1

    async def set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        with self._lock:
            st = self._streams.setdefault(stream, _Stream())
            st.limits = limits
            self._prune(st, datetime.now(UTC))

    async def save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        self._snapshots[stream] = StoredSnapshot(
            version, type_name, data, schema_version, datetime.now(UTC)
        )

    # -- reading ------------------------------------------------------------------
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
        with self._lock:
            st = self._streams.get(stream)
            if st is None or st.hard_deleted:
                return []
            rows = st.rows
            # rows are in version order, and so in recorded_at order: bounds by bisection
            lo = bisect.bisect_left(rows, st.first_visible(now), key=_version)
            hi = len(rows)
            if as_of is not None:
                hi = bisect.bisect_right(rows, as_of, lo, hi, key=_recorded_at)
            if backwards:
                if start is not None:
                    hi = min(hi, bisect.bisect_right(rows, start, lo, hi, key=_version))
                page = rows[max(lo, hi - limit) : hi]
                page.reverse()
            else:
                if start is not None:
                    lo = max(lo, bisect.bisect_left(rows, start, lo, hi, key=_version))
                page = rows[lo : min(hi, lo + limit)]
        return [decode_event(codec, *r) for r in page]

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
        with self._lock:
            if correlation_id is None:
                rows = self._log
                start = bisect.bisect_right(self._positions, after)
            else:
                rows = self._correlated.get(correlation_id, [])
                start = bisect.bisect_right(rows, after, key=_position)
            out = self._filtered(rows, start, limit, types, prefix)
            mark = out[-1].position if len(out) >= limit else self._next_position - 1
        return LogPage([decode_event(codec, *r) for r in out], max(mark, after))

    @staticmethod
    def _filtered(
        rows: list[_Row], start: int, limit: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> list[_Row]:
        """Up to ``limit`` rows from ``rows[start:]`` that pass the filters."""
        if types is None and prefix is None:
            return rows[start : start + limit]
        out: list[_Row] = []
        type_set = None if types is None else set(types)
        for i in range(start, len(rows)):
            r = rows[i]
            if type_set is not None and r.type not in type_set:
                continue
            if prefix is not None and not r.stream.startswith(prefix):
                continue
            out.append(r)
            if len(out) >= limit:
                break
        return out

    async def stream_version(self, stream: str) -> int:
        st = self._streams.get(stream)
        return 0 if st is None else st.version

    async def last_position(self) -> int:
        return self._positions[-1] if self._positions else 0

    async def head_position(self) -> int:
        return self._next_position - 1

    async def streams(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(
                name
                for name, st in self._streams.items()
                if name.startswith(prefix)
                and not st.hard_deleted
                and st.hidden_before <= st.version
            )

    async def stream_limits(self, stream: str) -> StreamLimits:
        st = self._streams.get(stream)
        return StreamLimits() if st is None else st.limits

    async def load_snapshot(self, stream: str) -> StoredSnapshot | None:
        return self._snapshots.get(stream)

    async def store_id(self) -> str:
        """A fresh id for each store: each ``memory://`` store is a new one."""
        return self._id
