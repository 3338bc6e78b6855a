"""Prometheus metrics (prometheus-client), off until something turns them on.

``eventflux worker --metrics-port N`` and ``eventflux serve`` (at ``/metrics``)
turn them on; a program can call :func:`enable_metrics`. While they are off,
the hooks the store, the bus and the projections call cost one global lookup.

Names follow Prometheus conventions:

=========================================  =========  ==========================
name                                       type       labels
=========================================  =========  ==========================
``eventflux_store_appends_total``          counter    (events appended)
``eventflux_store_append_batches_total``   counter    (append calls)
``eventflux_bus_publishes_total``          counter    (messages published)
``eventflux_bus_deliveries_total``         counter    group, outcome
``eventflux_bus_acks_total``               counter    group
``eventflux_bus_retries_total``            counter    group
``eventflux_bus_rejects_total``            counter    group
``eventflux_bus_handler_errors_total``     counter    group, error_type
``eventflux_bus_handler_duration_seconds`` histogram  group
``eventflux_bus_in_flight``                gauge      group
``eventflux_group_lag``                    gauge      group (messages pending)
``eventflux_dead_letters``                 gauge      group
``eventflux_breaker_state``                gauge      breaker (0 closed, 1 half-open, 2 open)
``eventflux_projection_lag_events``        gauge      projection
``eventflux_sagas``                        gauge      saga, state
=========================================  =========  ==========================

Outcomes of a delivery: ``ack``, ``retry``, ``dead_letter``, ``reject``,
``deferred`` (a circuit breaker refused it), ``dropped`` (exhausted with
``dead_letter=False``).

Example::

    registry = enable_metrics()          # a fresh CollectorRegistry
    start_metrics_server(9100)           # GET http://127.0.0.1:9100/metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ..exceptions import MissingExtraError

__all__ = [
    "BREAKER_STATES",
    "GroupMetrics",
    "Metrics",
    "current",
    "disable_metrics",
    "enable_metrics",
    "render_latest",
    "start_metrics_server",
]

#: The value ``eventflux_breaker_state`` takes for each breaker state.
BREAKER_STATES: Final = {"closed": 0, "half_open": 1, "open": 2}
_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as e:  # pragma: no cover - exercised without the extra only
        raise MissingExtraError("Prometheus metrics", "metrics", "prometheus_client") from e
    return prometheus_client


class GroupMetrics:
    """The bus metrics of one consumer group, with their label values bound once
    (the consumer runtime calls these per delivery).

    Example::

        group = metrics.group("payments")
        group.started()
        group.delivered("retry", 0.012, "ConnectionError")
    """

    __slots__ = ("_errors", "_m", "_outcomes", "duration", "in_flight", "name")

    def __init__(self, m: Metrics, name: str) -> None:
        self._m = m
        self.name = name
        self.in_flight = m.in_flight.labels(name)
        self.duration = m.handler_duration.labels(name)
        self._outcomes: dict[str, tuple[Any, Any | None]] = {}
        self._errors: dict[str, Any] = {}

    def started(self) -> None:
        """A handler starts."""
        self.in_flight.inc()

    def delivered(self, outcome: str, seconds: float, error_type: str | None) -> None:
        """A handler ended (``started`` came first): count its outcome and time it."""
        self.in_flight.dec()
        self.duration.observe(seconds)
        counters = self._outcomes.get(outcome)
        if counters is None:
            m, name = self._m, self.name
            extra = {"ack": m.acks, "retry": m.retries, "reject": m.rejects}.get(outcome)
            counters = self._outcomes[outcome] = (
                m.deliveries.labels(name, outcome),
                None if extra is None else extra.labels(name),
            )
        counters[0].inc()
        if counters[1] is not None:
            counters[1].inc()
        if error_type is not None:
            errors = self._errors.get(error_type)
            if errors is None:
                errors = self._errors[error_type] = self._m.handler_errors.labels(
                    self.name, error_type
                )
            errors.inc()


@dataclass(frozen=True, slots=True)
class Metrics:
    """The metric objects of one registry, with one method per hook."""

    registry: Any
    appends: Any
    append_batches: Any
    publishes: Any
    deliveries: Any
    acks: Any
    retries: Any
    rejects: Any
    handler_errors: Any
    handler_duration: Any
    in_flight: Any
    group_lag: Any
    dead_letters: Any
    breaker_state: Any
    projection_lag: Any
    sagas: Any
    groups: dict[str, GroupMetrics] = field(default_factory=dict)

    @classmethod
    def create(cls, registry: Any) -> Metrics:
        p = _client()

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return p.Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Any:
            return p.Gauge(name, doc, labels, registry=registry)

        return cls(
            registry=registry,
            appends=counter("eventflux_store_appends", "Events appended to the event store."),
            append_batches=counter("eventflux_store_append_batches", "Append calls."),
            publishes=counter("eventflux_bus_publishes", "Messages published to the bus."),
            deliveries=counter(
                "eventflux_bus_deliveries", "Deliveries by outcome.", ("group", "outcome")
            ),
            acks=counter("eventflux_bus_acks", "Deliveries acknowledged.", ("group",)),
            retries=counter("eventflux_bus_retries", "Deliveries to be retried.", ("group",)),
            rejects=counter("eventflux_bus_rejects", "Messages rejected by handlers.", ("group",)),
            handler_errors=counter(
                "eventflux_bus_handler_errors",
                "Handler failures by exception type.",
                ("group", "error_type"),
            ),
            handler_duration=p.Histogram(
                "eventflux_bus_handler_duration_seconds",
                "Time a handler took, per delivery.",
                ("group",),
                buckets=_BUCKETS,
                registry=registry,
            ),
            in_flight=gauge("eventflux_bus_in_flight", "Handlers running now.", ("group",)),
            group_lag=gauge("eventflux_group_lag", "Messages pending in a group.", ("group",)),
            dead_letters=gauge("eventflux_dead_letters", "Dead letters of a group.", ("group",)),
            breaker_state=gauge(
                "eventflux_breaker_state",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                ("breaker",),
            ),
            projection_lag=gauge(
                "eventflux_projection_lag_events", "Events a projection is behind.", ("projection",)
            ),
            sagas=gauge("eventflux_sagas", "Saga instances by state.", ("saga", "state")),
        )

    # -- hooks -------------------------------------------------------------------------------
    def appended(self, events: int) -> None:
        self.append_batches.inc()
        self.appends.inc(events)

    def published(self, messages: int) -> None:
        self.publishes.inc(messages)

    def delivered(self, group: str, outcome: str, seconds: float, error_type: str | None) -> None:
        self.deliveries.labels(group, outcome).inc()
        self.handler_duration.labels(group).observe(seconds)
        if outcome == "ack":
            self.acks.labels(group).inc()
        elif outcome == "retry":
            self.retries.labels(group).inc()
        elif outcome == "reject":
            self.rejects.labels(group).inc()
        if error_type is not None:
            self.handler_errors.labels(group, error_type).inc()

    def breaker(self, name: str, state: str) -> None:
        self.breaker_state.labels(name).set(BREAKER_STATES.get(state, -1))

    def group(self, name: str) -> GroupMetrics:
        """The metrics of the consumer group ``name`` (labels bound once)."""
        found = self.groups.get(name)
        if found is None:
            found = self.groups[name] = GroupMetrics(self, name)
        return found


_current: Metrics | None = None


def current() -> Metrics | None:
    """The enabled metrics, or None (the hot paths' one check)."""
    return _current


def enable_metrics(registry: Any = None) -> Metrics:
    """Turn metrics on, in ``registry`` (default: a fresh ``CollectorRegistry``);
    returns them. Calling it again returns the metrics already enabled."""
    global _current
    if _current is None:
        reg = registry if registry is not None else _client().CollectorRegistry()
        _current = Metrics.create(reg)
    return _current


def disable_metrics() -> None:
    """Turn metrics off (their registry is forgotten)."""
    global _current
    _current = None


def render_latest() -> tuple[bytes, str]:
    """The Prometheus text of the enabled metrics and its content type."""
    p = _client()
    metrics = enable_metrics()
    return p.generate_latest(metrics.registry), p.CONTENT_TYPE_LATEST


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` on ``addr:port`` from a background thread (one per
    worker process: each process exposes its own)."""
    p = _client()
    metrics = enable_metrics()
    p.start_http_server(port, addr=addr, registry=metrics.registry)
