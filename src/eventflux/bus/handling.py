"""What happens to one delivery: decode it, run the handler (through the inbox
and the circuit breaker), and decide how to settle it (:class:`Outcome`).

Ack on return (and on ``AlreadyHandled``, or when the inbox saw the id); a
counted nak with the retry policy's backoff when the handler fails, until
``max_deliver`` runs failed; a dead letter at once on ``Reject``, undecodable
bytes, or a delivery past ``max_deliver`` (its earlier runs started and never
settled: their members died or stalled, ``LeaseExpired``); an uncounted nak
when a circuit breaker refused the call. With ``dead_letter=False`` an
exhausted message is acked and logged.

A handler fails when it raises an ``Exception``, any other ``BaseException``
but ``KeyboardInterrupt`` and ``SystemExit`` (which still stop the process;
a ``CancelledError`` of its own included, recorded with its real type), or
runs past ``handler_timeout`` (it is cancelled: ``HandlerTimeoutError``).

Example::

    outcome = await run_handler(subscription, delivery, handle, timed_out)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Final

from ..codec import loads
from ..exceptions import CircuitOpenError, HandlerTimeoutError
from ..observability import tracing
from ..signals import AlreadyHandled, Reject
from .backend import Delivery, MemberHandle
from .message import Message
from .subscription import Subscription

__all__ = [
    "Outcome",
    "Settlement",
    "decode_delivery",
    "describe",
    "run_handler",
]


class Settlement(Enum):
    """How a delivery is settled after its handler ran."""

    ACK = "ack"
    NAK = "nak"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How to settle a delivery: a nak waits ``delay`` seconds and counts the
    delivery unless ``count`` is False; a dead letter records ``error``.

    ``label`` names the outcome for logs and metrics (``ack``, ``retry``,
    ``dead_letter``, ``reject``, ``deferred``, ``dropped``); ``error_type`` is
    the type name of the handler's exception, if it failed.
    """

    settlement: Settlement
    delay: float = 0.0
    count: bool = True
    error: str = ""
    label: str = "ack"
    error_type: str | None = None


_ACK: Final = Outcome(Settlement.ACK)
_NO_SPAN: Final = nullcontext()
_STOPPING: Final = (KeyboardInterrupt, SystemExit)


def describe(error: BaseException) -> str:
    """``"ExcType: message"`` of an exception, as dead letters record it."""
    return f"{type(error).__name__}: {error}"


def decode_delivery(d: Delivery, group: str) -> Message:
    """The handler's :class:`Message` for a delivery (its own decoded copy of the
    data); raises :class:`~eventflux.DeserializationError` on bad bytes."""
    raw = d.headers
    if isinstance(raw, bytes | bytearray | memoryview):
        headers = loads(bytes(raw)) if raw else {}
        if not isinstance(headers, dict):
            raise ValueError("message headers are not a JSON object")
    else:
        headers = dict(raw)  # each delivery gets its own copy
    return Message(
        d.subject,
        loads(d.data),
        d.msg_id,
        d.key,
        headers,
        d.attempt,
        datetime.fromtimestamp(d.published_at, UTC),
        group,
    )


def _exhausted(
    sub: Subscription, d: Delivery, error: str, label: str, error_type: str | None = None
) -> Outcome:
    if sub.dead_letter:
        return Outcome(Settlement.DEAD, error=error, label=label, error_type=error_type)
    return Outcome(Settlement.ACK, error=error, label="dropped", error_type=error_type)


def _timeout_error(sub: Subscription) -> HandlerTimeoutError:
    return HandlerTimeoutError(
        f"the handler ran longer than handler_timeout={sub.handler_timeout:g}s and was cancelled"
    )


def _failed(sub: Subscription, d: Delivery, e: BaseException) -> Outcome:
    error = describe(e)
    kind = type(e).__name__
    if not sub.policy.should_retry(d.attempt):
        return _exhausted(sub, d, error, "dead_letter", kind)
    return Outcome(
        Settlement.NAK, delay=sub.policy.delay(d.attempt), error=error, label="retry",
        error_type=kind,
    )  # fmt: skip


async def _call(sub: Subscription, msg: Message, timed_out: Callable[[], bool]) -> None:
    """Run the handler on ``msg``; the runtime's handler timeout (a cancellation
    while ``timed_out()``) becomes ``HandlerTimeoutError``."""
    try:
        result = sub.handler(msg)
        if result is not None:
            await result
    except asyncio.CancelledError:
        if not timed_out():
            raise
        _uncancel()
        raise _timeout_error(sub) from None


async def run_handler(
    sub: Subscription, d: Delivery, handle: MemberHandle, timed_out: Callable[[], bool]
) -> Outcome:
    """Run the subscription's handler on one delivery and decide how to settle it.

    ``handle.starting(d)`` records the run just before the handler starts;
    ``timed_out()`` tells whether a cancellation of the current task is the
    runtime's handler timeout (then the run fails with ``HandlerTimeoutError``).
    Any other cancellation of the task propagates (the runtime's close timeout).

    Example::

        outcome = await run_handler(subscription, delivery, handle, timed_out)
        if outcome.settlement is Settlement.NAK:
            await handle.nak(delivery, outcome.delay, count=outcome.count)
    """
    try:
        msg = decode_delivery(d, sub.group)
    except Exception as e:
        return _exhausted(sub, d, describe(e), "dead_letter", type(e).__name__)
    if d.attempt > sub.policy.max_deliver:
        return _exhausted(
            sub,
            d,
            f"LeaseExpired: its handler started {d.attempt - 1} times and never settled it "
            f"(a member died or stalled past ack_wait={sub.ack_wait:g}s)",
            "dead_letter",
            "LeaseExpired",
        )
    inbox = sub.idempotent
    try:
        if inbox is not None and await inbox.seen(sub.group, msg.msg_id):
            return _ACK
        await handle.starting(d)
        breaker = sub.breaker
        with (
            tracing.process_span(d.subject, sub.group, msg.msg_id, msg.headers, d.attempt)
            if tracing.enabled()
            else _NO_SPAN
        ):
            if breaker is None:
                await _call(sub, msg, timed_out)
            else:
                async with breaker:
                    await _call(sub, msg, timed_out)
        if inbox is not None:
            await inbox.record(sub.group, msg.msg_id)
    except AlreadyHandled:
        return _ACK
    except Reject as e:
        return _exhausted(sub, d, e.reason, "reject")  # a decision, not an error
    except CircuitOpenError as e:
        return Outcome(
            Settlement.NAK, delay=max(e.retry_after, 0.01), count=False, label="deferred"
        )
    except Exception as e:
        return _failed(sub, d, e)
    except _STOPPING:
        raise
    except asyncio.CancelledError as e:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the runtime cancels this task (the bus closes past its timeout)
        return _failed(sub, d, e)  # the handler's own CancelledError
    except BaseException as e:  # GeneratorExit and other non-Exception errors
        return _failed(sub, d, e)
    return _ACK


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
