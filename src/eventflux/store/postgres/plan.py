"""Planning one group commit of the PostgreSQL store backend, in Python.

Given the locked state of the group's streams (versions, hard deletes) and
the stored event ids that matter, decide request by request, in queue order,
what each append returns: its versions and positions, the original result of
a retry, or its own error. Accepted requests move the versions that later
requests of the same group see.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from uuid import UUID

from ..._internal import group_commit
from ...events import AppendResult
from ...exceptions import ConcurrencyError, StoreError, StreamDeletedError
from ..backend import AppendBatch, check_idempotent_retry, version_matches
from .sql import correlation_key

__all__ = ["Planned", "Request", "Rows", "any_conflict", "plan_group", "results"]


#: One append waiting for the writer: its batches are the payload.
Request: TypeAlias = group_commit.Request[list[AppendBatch], list[AppendResult]]


# What one accepted batch will return: the original result of a retry, or the
# versions it takes and the 1-based place of its last row in the group's insert.
Planned = AppendResult | tuple[int, int, int]


class Rows:
    """Column lists of the rows one transaction inserts (fed to ``unnest``)."""

    def __init__(self) -> None:
        self.ids: list[UUID] = []
        self.streams: list[str] = []
        self.versions: list[int] = []
        self.types: list[str] = []
        self.datas: list[bytes] = []
        self.metas: list[bytes] = []
        self.schemas: list[int] = []
        self.correlations: list[str | None] = []
        #: Encoded bytes (data plus metadata) of the rows.
        self.bytes = 0

    def add(self, batch: AppendBatch, first_version: int) -> int:
        version = first_version
        for e in batch.events:
            self.ids.append(e.id)
            self.streams.append(batch.stream)
            self.versions.append(version)
            self.types.append(e.type)
            self.datas.append(e.data)
            self.metas.append(e.metadata)
            self.schemas.append(e.schema_version)
            self.correlations.append(correlation_key(e.correlation_id))
            self.bytes += len(e.data) + len(e.metadata)
            version += 1
        return len(self.ids)


def any_conflict(group: list[Request], versions: dict[str, int]) -> bool:
    """Whether some request of the group fails its version check (taken in order)."""
    local = dict(versions)
    for request in group:
        mine: dict[str, int] = {}
        ok = True
        for b in request.payload:
            actual = mine.get(b.stream, local.get(b.stream, 0))
            if not version_matches(b.expected_version, actual):
                ok = False
                break
            mine[b.stream] = actual + len(b.events)
        if not ok:
            return True
        local.update(mine)
    return False


def plan_group(
    group: list[Request],
    versions: dict[str, int],
    deleted: set[str],
    stored: dict[Any, tuple[str, int, int]],
) -> tuple[list[tuple[Request, list[Planned] | StoreError]], list[Request], Rows, dict[str, int]]:
    """Check each request against the locked state, in queue order; accepted ones
    move the versions that later requests of the group see."""
    out_plan: list[tuple[Request, list[Planned] | StoreError]] = []
    deferred: list[Request] = []
    rows = Rows()
    touched: dict[str, int] = {}
    pending: set[Any] = set()
    track = len(group) > 1  # ids written earlier in this group (one request: none)
    for request in group:
        if pending and any(e.id in pending for b in request.payload for e in b.events):
            deferred.append(request)  # a retry of a request in this very group
            continue
        local: dict[str, int] = {}
        planned: list[tuple[AppendBatch, AppendResult | int]] = []
        try:
            for b in request.payload:
                if b.stream in deleted:
                    raise StreamDeletedError(b.stream)
                hits = {e.id: stored[e.id] for e in b.events if e.id in stored} if stored else {}
                retry = check_idempotent_retry(b, hits)
                if retry is not None:
                    planned.append((b, retry))
                    continue
                actual = local.get(b.stream, versions.get(b.stream, 0))
                if not version_matches(b.expected_version, actual):
                    raise ConcurrencyError(b.stream, b.expected_version, actual)
                local[b.stream] = actual + len(b.events)
                planned.append((b, actual + 1))
        except StoreError as e:
            out_plan.append((request, e))
            continue
        out: list[Planned] = []
        for b, how in planned:
            if isinstance(how, AppendResult):
                out.append(how)
                continue
            last_row = rows.add(b, how)
            out.append((how, how + len(b.events) - 1, last_row))
            if track:
                pending.update(e.id for e in b.events)
        versions.update(local)
        touched.update(local)
        out_plan.append((request, out))
    return out_plan, deferred, rows, touched


def results(
    planned_group: list[tuple[Request, list[Planned] | StoreError]], base: int
) -> list[tuple[Request, list[AppendResult] | StoreError]]:
    out: list[tuple[Request, list[AppendResult] | StoreError]] = []
    for request, planned in planned_group:
        if isinstance(planned, StoreError):
            out.append((request, planned))
            continue
        out.append(
            (
                request,
                [
                    p if isinstance(p, AppendResult) else AppendResult(p[0], p[1], base + p[2])
                    for p in planned
                ],
            )
        )
    return out
