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
  correlation id), ``messaging.message.delivery_attempt`` on a redelivery
  and, on failure, ``error.type``. Each costs the SDK a check, so there are
  no more than these.
- Command handling and appends get INTERNAL / CLIENT spans; an append stores
  the ``traceparent`` in the events' metadata through the ambient context.

Example::

    # with opentelemetry-sdk configured by the application:
    with publish_span("orders.created", msg_id, headers) as headers:
        ...  # headers now carry traceparent
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
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
_Status: Any
_StatusCode: Any
_TraceState: Any
try:
    from opentelemetry import context as _otel_context
    from opentelemetry import propagate as _otel_propagate
    from opentelemetry import trace as _otel_trace
    from opentelemetry.trace import Status as _Status
    from opentelemetry.trace import StatusCode as _StatusCode
    from opentelemetry.trace.span import TraceState as _TraceState
except ImportError:  # pragma: no cover - exercised without the extra only
    _otel_context = _otel_propagate = _otel_trace = _Status = _StatusCode = _TraceState = None

_OFF: Final = (
    () if _otel_trace is None else (_otel_trace.ProxyTracerProvider, _otel_trace.NoOpTracerProvider)
)
_state: dict[str, Any] = {}  # "tracer": the tracer, once a real provider is configured


#: A provider named by the environment is loaded by the API on first use.
_PROVIDER_FROM_ENV: Final = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def enabled() -> bool:
    """True when the extra is installed and a real tracer provider is configured
    (the global provider can be set once, so a yes is remembered).

    Until the OpenTelemetry SDK (``opentelemetry.sdk.trace``, where providers
    come from) is imported, or a provider is named by the environment, this is
    one lookup: the hooks of the publish and delivery paths call it each time.
    """
    if "tracer" in _state:
        return True
    if _otel_trace is None:
        return False
    if not _PROVIDER_FROM_ENV and "opentelemetry.sdk.trace" not in sys.modules:
        return False
    provider = _otel_trace.get_tracer_provider()
    if isinstance(provider, _OFF):
        return False
    _state["tracer"] = provider.get_tracer("eventflux")
    return True


def _tracer() -> Any:
    return _state["tracer"]


def _traceparent(span: Any) -> dict[str, str]:
    """The W3C headers of ``span``'s context (``traceparent``, ``tracestate``)."""
    ctx = span.get_span_context()
    out = {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"}
    if ctx.trace_state:
        out["tracestate"] = ctx.trace_state.to_header()
    return out


_parents: dict[tuple[str, str | None], Any] = {}  # the last traceparents parsed


def _parent(headers: Mapping[str, str]) -> Any:
    """The remote parent context a message's ``traceparent`` names (None: none).
    Messages of one batch share theirs, so the last few are kept parsed."""
    value = headers.get("traceparent")
    if not value:
        return None
    key = (value, headers.get("tracestate"))
    found = _parents.get(key)
    if found is None:
        found = _parents[key] = _parse_parent(headers, value)
        if len(_parents) > 64:
            del _parents[next(iter(_parents))]
    return found


def _parse_parent(headers: Mapping[str, str], value: str) -> Any:
    parts = value.split("-")
    if len(parts) == 4 and parts[0] == "00" and len(parts[1]) == 32 and len(parts[2]) == 16:
        try:
            trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        except ValueError:
            return None
        if not trace_id or not span_id:
            return None
        state = headers.get("tracestate")
        remote = _otel_trace.SpanContext(
            trace_id,
            span_id,
            is_remote=True,
            trace_flags=_otel_trace.TraceFlags(flags),
            trace_state=_TraceState.from_header([state]) if state else None,
        )
        return _otel_trace.set_span_in_context(_otel_trace.NonRecordingSpan(remote))
    return _otel_propagate.extract(dict(headers))  # another version: the propagator's rules


def inject(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """``headers`` plus the current trace context (None in, None out when off)."""
    if not enabled():
        return None if headers is None else dict(headers)
    carrier = dict(headers or {})
    _otel_propagate.inject(carrier)
    return carrier


class _Span:
    """A span made current for a ``with`` block; a failure sets ``error.type``."""

    __slots__ = ("span", "token")

    def __init__(self, span: Any) -> None:
        self.span = span
        self.token: Any = None

    def __enter__(self) -> Any:
        self.token = _otel_context.attach(_otel_trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        _otel_context.detach(self.token)
        span = self.span
        if error is not None:
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(_Status(_StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


class _Publish(_Span):
    """A PRODUCER span; entering yields the headers to send, with its traceparent."""

    __slots__ = ("headers",)

    def __init__(self, span: Any, headers: Mapping[str, str] | None) -> None:
        super().__init__(span)
        self.headers = {**(headers or {}), **_traceparent(span)}

    def __enter__(self) -> dict[str, str]:
        super().__enter__()
        return self.headers


def publish_span(
    subject: str, msg_id: str, headers: Mapping[str, str] | None, correlation_id: str | None
) -> AbstractContextManager[Mapping[str, str] | None]:
    """A PRODUCER span ``publish {subject}`` around a publish; entering it yields the
    headers with ``traceparent`` (``headers`` unchanged when tracing is off)."""
    if not enabled():
        return nullcontext(headers)
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.destination.name": subject,
        "messaging.message.id": msg_id,
    }
    if correlation_id:
        attributes["messaging.message.conversation_id"] = correlation_id
    span = _tracer().start_span(
        f"publish {subject}", kind=_otel_trace.SpanKind.PRODUCER, attributes=attributes
    )
    return _Publish(span, headers)


def batch_span(subject: str | None, count: int) -> AbstractContextManager[dict[str, str] | None]:
    """One PRODUCER span around a batch publish (``subject`` None: several); entering
    it yields the trace headers every message of the batch carries (None when off)."""
    if not enabled():
        return nullcontext(None)
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.batch.message_count": count,
    }
    if subject is not None:
        attributes["messaging.destination.name"] = subject
    name = "publish" if subject is None else f"publish {subject}"
    span = _tracer().start_span(name, kind=_otel_trace.SpanKind.PRODUCER, attributes=attributes)
    return _Publish(span, None)


def process_span(
    subject: str,
    group: str,
    msg_id: str,
    headers: Mapping[str, str],
    attempt: int,
) -> AbstractContextManager[Any]:
    """A CONSUMER span ``process {subject}`` per delivery, a child of the producer's
    context (the message's ``traceparent``); entering it yields the span (None
    when off). A failure inside sets ``error.type``; a redelivery (``attempt``
    above 1) is marked ``messaging.message.delivery_attempt``."""
    if not enabled():
        return nullcontext(None)
    attributes: dict[str, Any] = {  # few: the SDK checks each one
        "messaging.system": SYSTEM,
        "messaging.operation.name": "process",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": group,
        "messaging.message.id": msg_id,
    }
    correlation = headers.get("correlation_id")
    if correlation:
        attributes["messaging.message.conversation_id"] = correlation
    if attempt > 1:
        attributes["messaging.message.delivery_attempt"] = attempt
    span = _tracer().start_span(
        f"process {subject}",
        context=_parent(headers),
        kind=_otel_trace.SpanKind.CONSUMER,
        attributes=attributes,
    )
    return _Span(span)


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
