"""The settings of one member (one ``subscribe`` call) and their checks.

Example::

    make = subscription_factory("orders.*", group="audit", max_deliver=3)
    sub = make(handler)   # a validated Subscription for that handler
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from ..resilience.breaker import CircuitBreaker
from ..resilience.inbox import Inbox
from ..resilience.retry import RetryPolicy
from .message import Message
from .subjects import validate_group, validate_subject

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "MAX_ID_LENGTH",
    "MessageHandler",
    "Subscription",
    "check_seconds",
    "check_text",
    "default_group",
    "subscription_factory",
]

MAX_ID_LENGTH: Final = 255
#: Seconds a handler may run by default before it is cancelled.
DEFAULT_HANDLER_TIMEOUT: Final = 600.0

#: What ``subscribe`` takes: ``async def handler(msg: Message) -> None`` (plain
#: functions work too).
MessageHandler = Callable[[Message], Awaitable[None] | None]
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")


def check_text(name: str, value: object, *, allow_none: bool = True) -> str | None:
    """A message id or key: 1 to 255 printable characters (a UUID becomes its str)."""
    if value is None and allow_none:
        return None
    if isinstance(value, UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} must have 1 to {MAX_ID_LENGTH} characters, got {len(value)}")
    if not value.isprintable():
        raise ValueError(f"{name} {value!r} has a non-printable character")
    return value


def check_seconds(name: str, value: object) -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def default_group(handler: Callable[..., Any]) -> str:
    """The group of a subscription made without ``group=``: the handler's
    module and qualified name, e.g. ``myapp-payments-charge``."""
    module = getattr(handler, "__module__", None) or "handler"
    name = getattr(handler, "__qualname__", None) or type(handler).__name__
    return _NOT_ALLOWED.sub("-", f"{module}.{name}").strip("-") or "handler"


@dataclass(frozen=True, slots=True)
class Subscription:
    """The validated settings of one member."""

    subject: str
    handler: MessageHandler
    group: str
    policy: RetryPolicy
    dead_letter: bool
    concurrency: int
    ack_wait: float
    idempotent: Inbox | None
    breaker: CircuitBreaker | None
    #: Seconds a handler may run before it is cancelled (inf: no limit).
    handler_timeout: float = DEFAULT_HANDLER_TIMEOUT

    def __repr__(self) -> str:
        return f"<Subscription {self.subject!r} group={self.group!r}>"


def subscription_factory(
    subject: object,
    *,
    group: object,
    max_deliver: int,
    backoff: tuple[float, float],
    dead_letter: bool,
    concurrency: int,
    ack_wait: float,
    idempotent: bool | Inbox,
    breaker: CircuitBreaker | None,
    bus_inbox: Callable[[], Inbox],
    handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
) -> Callable[[MessageHandler], Subscription]:
    """Check ``subscribe``'s arguments now; return a function that makes the
    Subscription for a handler (which may come later, in decorator form)."""
    pattern = validate_subject(subject, pattern=True)
    if group is not None:
        validate_group(group)
    policy = RetryPolicy(max_deliver, backoff)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    wait = check_seconds("ack_wait", ack_wait)
    limit = (
        float("inf")
        if handler_timeout is None
        else check_seconds("handler_timeout", handler_timeout)
    )
    inbox: Inbox | None
    if isinstance(idempotent, Inbox):
        inbox = idempotent
    elif isinstance(idempotent, bool):
        inbox = bus_inbox() if idempotent else None
    else:
        raise TypeError(f"idempotent must be a bool or an Inbox, not {idempotent!r}")
    if breaker is not None and not hasattr(breaker, "allow"):
        raise TypeError(f"breaker must be a CircuitBreaker, not {breaker!r}")

    def make(handler: MessageHandler) -> Subscription:
        if not callable(handler):
            raise TypeError(f"a handler must be callable, not {handler!r}")
        name = group if isinstance(group, str) else default_group(handler)
        return Subscription(
            pattern,
            handler,
            name,
            policy,
            bool(dead_letter),
            concurrency,
            wait,
            inbox,
            breaker,
            limit,
        )

    return make
