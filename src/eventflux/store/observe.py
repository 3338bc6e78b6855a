"""What the event store tells observability: one structured log line per append.

The line ``append`` (DEBUG, logger ``eventflux.store``) names the stream, the
versions and position written, whether it was an idempotent retry (nothing
written), the event ids (the first 20), the ``correlation_id`` of the first
event, the ``causation_id`` of the context the append ran in, and
``duration_ms``. While DEBUG is off, an append pays one level check.

Example::

    if logging_appends():
        started = time.perf_counter()
        results = await backend.append(parts)
        log_append(parts, results, time.perf_counter() - started)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from ..context import current_metadata
from ..events import CAUSATION_ID, AppendResult
from ..observability.logs import get_logger
from .backend import AppendBatch

__all__ = ["log_append", "logging_appends"]

_std = logging.getLogger("eventflux.store")
_log = get_logger("eventflux.store")
_IDS_SHOWN: Final = 20


def logging_appends() -> bool:
    """Whether append lines are written (DEBUG on for ``eventflux.store``)."""
    return _std.isEnabledFor(logging.DEBUG)


def log_append(
    parts: Sequence[AppendBatch], results: Sequence[AppendResult], seconds: float
) -> None:
    """One ``append`` line per stream of one append (one transaction)."""
    causation = current_metadata().get(CAUSATION_ID)
    duration = round(seconds * 1000, 3)
    for part, result in zip(parts, results, strict=True):
        _log.debug(
            "append",
            stream=part.stream,
            events=len(part.events),
            event_ids=[str(e.id) for e in part.events[:_IDS_SHOWN]],
            first_version=result.first_version,
            last_version=result.last_version,
            position=result.position,
            retried=result.retried,
            correlation_id=part.events[0].correlation_id,
            causation_id=causation,
            duration_ms=duration,
        )
