"""The event store's value types: expected versions, retention limits, snapshots.

Example::

    await store.append("account-42", events, expected_version=NO_STREAM)
    await store.set_stream_limits("ticks", max_count=1000)
    assert await store.stream_limits("ticks") == StreamLimits(max_count=1000)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from .._internal.sentinels import Sentinel

__all__ = ["ANY", "NO_STREAM", "STREAM_EXISTS", "ExpectedVersion", "Snapshot", "StreamLimits"]

NO_STREAM: Final = 0
"""Expected version of a stream that has no events yet."""
ANY: Final = Sentinel("ANY", __name__)
"""Expected version that skips the check."""
STREAM_EXISTS: Final = Sentinel("STREAM_EXISTS", __name__)
"""Expected version that requires at least one event in the stream."""

#: What ``expected_version`` takes: the number of events the caller believes the
#: stream holds (``NO_STREAM`` = 0), or ``ANY``, or ``STREAM_EXISTS``.
ExpectedVersion = int | Sentinel


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Per-stream retention: keep the newest ``max_count`` events and those younger
    than ``max_age``; older ones are hidden from ``read`` and removed from storage."""

    max_count: int | None = None
    max_age: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest saved state of a stream at ``version``."""

    stream: str
    version: int
    data: Any
    type: str
    schema_version: int
    recorded_at: datetime
