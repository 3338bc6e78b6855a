"""OpenTelemetry tracing (the ``otel`` extra), following the messaging semantic
conventions; without the extra, or with no tracer provider configured, every
hook is a no-op that costs one global lookup.

- A publish is a PRODUCER span ``publish {subject}``; its W3C ``traceparent``
  (and ``tracestate``) go into the message headers. A batch
  (``publish_many``) is one PRODUCER span whose context every message of the
  batch carries.
- Each delivery is a CONSUMER span ``process {subject}`` whose parent is the
  producer's context (so one trace spans processes and machines), with the
  attributes ``messaging.system``, ``messaging.operation.name``,
  ``messaging.destination.name``, ``messaging.consumer.group.name``,
  ``messaging.message.id``, ``messaging.message.conversation_id`` (the
  correlation id) and, on failure, ``error.type``.
- Command handling and appends get INTERNAL / CLIENT spans; an append stores
  the ``traceparent`` in the events' metadata through the ambient context.

Example::

    # with opentelemetry-sdk configured by the application:
    with publish_span("orders.created", msg_id, headers) as headers:
        ...  # headers now carry traceparent
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, Final

__all__ = [
    "SYSTEM",
    "batch_span",
    "current_traceparent",
    "enabled",
    "inject",
    "process_span",
    "publish_span",
    "span",
]

#: ``messaging.system`` for eventflux's own bus backends.
SYSTEM: Final = "eventflux"

_otel_context: Any
_otel_propagate: Any
_otel_trace: Any
try:
    from opentelemetry import context as _otel_context
    from opentelemetry import propagate as _otel_propagate
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised without the extra only
    _otel_context = _otel_propagate = _otel_trace = None


_OFF: Final = (
    () if _otel_trace is None else (_otel_trace.ProxyTracerProvider, _otel_trace.NoOpTracerProvider)
)
_state: dict[str, Any] = {}  # "tracer": the tracer, once a real provider is configured


def enabled() -> bool:
    """True when the extra is installed and a real tracer provider is configured
    (the global provider can be set once, so a yes is remembered)."""
    if "tracer" in _state:
        return True
    if _otel_trace is None:
        return False
    provider = _otel_trace.get_tracer_provider()
    if isinstance(provider, _OFF):
        return False
    _state["tracer"] = provider.get_tracer("eventflux")
    return True


def _tracer() -> Any:
    return _state["tracer"]


def inject(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus the current trace context (None in, None out when off)."""
    if not enabled():
        return None if headers is None else dict(headers)
    carrier = dict(headers or {})
    _otel_propagate.inject(carrier)
    return carrier


@contextmanager
def publish_span(
    subject: str, msg_id: str, headers: Mapping[str, str] | None, correlation_id: str | None
) -> Iterator[Mapping[str, str] | None]:
    """A PRODUCER span around a publish; yields the headers with ``traceparent``."""
    if not enabled():
        yield headers
        return
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.destination.name": subject,
        "messaging.message.id": msg_id,
    }
    if correlation_id:
        attributes["messaging.message.conversation_id"] = correlation_id
    with _tracer().start_as_current_span(
        f"publish {subject}", kind=_otel_trace.SpanKind.PRODUCER, attributes=attributes
    ):
        yield inject(headers)


@contextmanager
def batch_span(subject: str | None, count: int) -> Iterator[dict[str, str] | None]:
    """One PRODUCER span around a batch publish (``subject`` None: several); yields
    the trace headers every message of the batch carries (None when off)."""
    if not enabled():
        yield None
        return
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.batch.message_count": count,
    }
    if subject is not None:
        attributes["messaging.destination.name"] = subject
    name = "publish" if subject is None else f"publish {subject}"
    with _tracer().start_as_current_span(
        name, kind=_otel_trace.SpanKind.PRODUCER, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        _otel_propagate.inject(carrier)
        yield carrier


@contextmanager
def process_span(
    subject: str,
    group: str,
    msg_id: str,
    headers: Mapping[str, str],
    attempt: int,
) -> Iterator[Any]:
    """A CONSUMER span per delivery, a child of the producer's context. Yields
    the span (or None when off); a failure sets ``error.type``."""
    if not enabled():
        yield None
        return
    parent = _otel_propagate.extract(dict(headers))
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": group,
        "messaging.message.id": msg_id,
        "messaging.message.delivery_attempt": attempt,
    }
    correlation = headers.get("correlation_id")
    if correlation:
        attributes["messaging.message.conversation_id"] = correlation
    token = _otel_context.attach(parent)
    try:
        with _tracer().start_as_current_span(
            f"process {subject}", kind=_otel_trace.SpanKind.CONSUMER, attributes=attributes
        ) as current:
            try:
                yield current
            except BaseException as e:
                current.set_attribute("error.type", type(e).__qualname__)
                raise
    finally:
        _otel_context.detach(token)


def span(name: str, kind: str = "internal", **attributes: Any) -> Any:
    """A span for a command or an append (a no-op context when off)."""
    if not enabled():
        return nullcontext()
    kinds = {"internal": _otel_trace.SpanKind.INTERNAL, "client": _otel_trace.SpanKind.CLIENT}
    clean = {k: v for k, v in attributes.items() if v is not None}
    return _tracer().start_as_current_span(name, kind=kinds[kind], attributes=clean)


def current_traceparent() -> dict[str, str]:
    """The W3C trace context of the current span as headers (empty when off)."""
    if not enabled():
        return {}
    carrier: dict[str, str] = {}
    _otel_propagate.inject(carrier)
    return carrier
