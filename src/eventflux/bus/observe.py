"""What the bus tells observability: one structured log line per publish and per
delivery outcome, breaker state changes, and the Prometheus hooks.

Log lines go through :func:`eventflux.observability.logs.get_logger` on the
logger ``eventflux.bus``, each with ``correlation_id`` and ``causation_id``
(from the message's headers; a message without a correlation id starts its
own chain: its ``msg_id``), ``msg_id``, ``subject``, ``group`` and
``duration_ms``:

=====================  =========  ==============================================
line (``event``)       level      when
=====================  =========  ==============================================
``publish``            DEBUG      a message was published (``duplicate`` when
                                  dedup dropped it)
``delivery``           DEBUG      ``outcome=ack``
``delivery``           INFO       ``outcome=retry`` (with ``retry_in_ms``) or
                                  ``deferred`` (an open circuit breaker)
``delivery``           WARNING    ``outcome=dead_letter``, ``reject`` or
                                  ``dropped`` (exhausted, ``dead_letter=False``)
``breaker``            WARNING    a circuit breaker guarding a subscription
                                  changed state (INFO when it closes)
=====================  =========  ==============================================

A line whose level is off costs one level check; so do the metrics hooks while
metrics are off (:func:`eventflux.observability.metrics.current`).

Example::

    log_publish(envelopes, fresh, seconds)
    log_outcome(subscription, delivery, outcome, seconds)
"""

from __future__ import annotations

import contextvars
import logging
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..codec import loads
from ..events import CAUSATION_ID, CORRELATION_ID
from ..observability import metrics
from ..observability.logs import get_logger
from ..resilience.breaker import CircuitBreaker, CircuitState, StateChange
from .backend import Delivery, Envelope
from .handling import Outcome
from .subscription import Subscription

__all__ = [
    "MemberObserver",
    "current_delivery",
    "headers_of",
    "log_outcome",
    "log_publish",
    "watch_breaker",
]

_std = logging.getLogger("eventflux.bus")
_log = get_logger("eventflux.bus")
_LEVELS: Final = {
    "ack": logging.DEBUG,
    "retry": logging.INFO,
    "deferred": logging.INFO,
    "dead_letter": logging.WARNING,
    "reject": logging.WARNING,
    "dropped": logging.WARNING,
}

#: The delivery a handler task works on, its group and when its handler started
#: (``time.monotonic()``), for breaker lines.
current_delivery: contextvars.ContextVar[tuple[Delivery, str, float] | None] = (
    contextvars.ContextVar("eventflux_bus_delivery", default=None)
)


def headers_of(d: Delivery) -> Mapping[str, Any]:
    """A delivery's headers as a mapping (decoded when the backend kept JSON)."""
    raw = d.headers
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            decoded = loads(bytes(raw)) if raw else {}
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return raw


def _ids(msg_id: str, headers: Mapping[str, Any]) -> tuple[Any, Any]:
    return headers.get(CORRELATION_ID) or msg_id, headers.get(CAUSATION_ID)


def log_publish(envelopes: Sequence[Envelope], fresh: Sequence[bool], seconds: float) -> None:
    """One DEBUG line per published message (and the publish counter)."""
    m = metrics.current()
    if m is not None:
        m.published(sum(1 for f in fresh if f))
    if not _std.isEnabledFor(logging.DEBUG):
        return
    duration = round(seconds * 1000, 3)
    for env, is_new in zip(envelopes, fresh, strict=False):
        correlation, causation = _ids(env.msg_id, env.headers)
        _log.debug(
            "publish",
            msg_id=env.msg_id,
            subject=env.subject,
            key=env.key,
            correlation_id=correlation,
            causation_id=causation,
            duplicate=not is_new,
            duration_ms=duration,
        )


def log_outcome(sub: Subscription, d: Delivery, outcome: Outcome, seconds: float) -> None:
    """One line for a delivery's outcome, at its level (nothing when that level is off)."""
    level = _LEVELS[outcome.label]
    if not _std.isEnabledFor(level):
        return
    correlation, causation = _ids(d.msg_id, headers_of(d))
    fields: dict[str, Any] = {
        "outcome": outcome.label,
        "msg_id": d.msg_id,
        "subject": d.subject,
        "group": sub.group,
        "key": d.key,
        "attempt": d.attempt,
        "correlation_id": correlation,
        "causation_id": causation,
        "duration_ms": round(seconds * 1000, 3),
    }
    if outcome.error:
        fields["error"] = outcome.error
    if outcome.label in ("retry", "deferred"):
        fields["retry_in_ms"] = round(outcome.delay * 1000, 1)
    _log.log(level, "delivery", **fields)


class MemberObserver:
    """What one member tells observability about each handler run: the group's
    metrics (looked up once per registry), the outcome line, and the delivery a
    breaker change is logged with.

    Example::

        metrics_now = observer.started(delivery, started)
        ...
        observer.ended(metrics_now, delivery, outcome, seconds)
    """

    __slots__ = ("_breaker", "_group", "_metrics", "sub")

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self._breaker = sub.breaker is not None
        if sub.breaker is not None:
            watch_breaker(sub.breaker)
        self._metrics: metrics.Metrics | None = None
        self._group: metrics.GroupMetrics | None = None

    def started(self, d: Delivery, started: float) -> metrics.GroupMetrics | None:
        """A handler starts on ``d`` (in its own task); returns the group's metrics
        while metrics are on (one lookup while they are off)."""
        if self._breaker:
            current_delivery.set((d, self.sub.group, started))
        current = metrics.current()
        if current is None:
            return None
        if current is not self._metrics:
            self._metrics = current
            self._group = current.group(self.sub.group)
        group = self._group
        assert group is not None
        group.started()
        return group

    def ended(
        self,
        group: metrics.GroupMetrics | None,
        d: Delivery,
        outcome: Outcome | None,
        seconds: float,
    ) -> None:
        """The handler's run ended with ``outcome`` (None: it was cancelled)."""
        if outcome is None:
            if group is not None:
                group.in_flight.dec()
            return
        if group is not None:
            group.delivered(outcome.label, seconds, outcome.error_type)
        log_outcome(self.sub, d, outcome, seconds)


_watched: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def watch_breaker(breaker: CircuitBreaker) -> None:
    """Log and count the state changes of a breaker that guards a subscription
    (once per breaker, however many subscriptions share it)."""
    if breaker in _watched:
        return
    _watched.add(breaker)
    m = metrics.current()
    if m is not None:
        m.breaker(breaker.name, breaker.state.value)
    breaker.add_listener(_breaker_changed)


def _breaker_changed(change: StateChange) -> None:
    m = metrics.current()
    if m is not None:
        m.breaker(change.name, change.new.value)
    level = logging.INFO if change.new is CircuitState.CLOSED else logging.WARNING
    if not _std.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "breaker": change.name,
        "old": change.old.value,
        "new": change.new.value,
        "reason": change.reason,
    }
    current = current_delivery.get()
    if current is not None:  # the delivery whose call changed it
        d, group, started = current
        correlation, causation = _ids(d.msg_id, headers_of(d))
        fields.update(
            msg_id=d.msg_id,
            subject=d.subject,
            group=group,
            correlation_id=correlation,
            causation_id=causation,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )
    _log.log(level, "breaker", **fields)
