"""What happens to one delivery: decode it, run the handler (through the inbox
and the circuit breaker), and decide how to settle it (:class:`Outcome`).

Ack on return (and on ``AlreadyHandled``, or when the inbox saw the id); a
counted nak with the retry policy's backoff on an exception, until
``max_deliver`` deliveries failed; a dead letter at once on ``Reject``,
undecodable bytes, or a delivery past ``max_deliver`` after a crash
(``LeaseExpired``); an uncounted nak when a circuit breaker refused the call.
With ``dead_letter=False`` an exhausted message is acked and logged.

Example::

    outcome = await run_handler(subscription, delivery)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Final

from ..codec import loads
from ..exceptions import CircuitOpenError
from ..signals import AlreadyHandled, Reject
from .backend import Delivery
from .message import Message
from .subscription import Subscription

__all__ = ["Outcome", "Settlement", "decode_delivery", "describe", "run_handler"]

log = logging.getLogger("eventflux.bus")


class Settlement(Enum):
    """How a delivery is settled after its handler ran."""

    ACK = "ack"
    NAK = "nak"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How to settle a delivery: a nak waits ``delay`` seconds and counts the
    delivery unless ``count`` is False; a dead letter records ``error``."""

    settlement: Settlement
    delay: float = 0.0
    count: bool = True
    error: str = ""


_ACK: Final = Outcome(Settlement.ACK)


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


def _exhausted(sub: Subscription, d: Delivery, error: str) -> Outcome:
    if sub.dead_letter:
        log.error(
            "group %r: message %r dead-lettered after %d deliveries: %s",
            sub.group,
            d.msg_id,
            d.attempt,
            error,
        )
        return Outcome(Settlement.DEAD, error=error)
    log.error(
        "group %r: message %r dropped (dead_letter=False) after %d deliveries: %s",
        sub.group,
        d.msg_id,
        d.attempt,
        error,
    )
    return _ACK


async def run_handler(sub: Subscription, d: Delivery) -> Outcome:
    """Run the subscription's handler on one delivery and decide how to settle it.

    Example::

        outcome = await run_handler(subscription, delivery)
        if outcome.settlement is Settlement.NAK:
            await handle.nak(delivery, outcome.delay, count=outcome.count)
    """
    try:
        msg = decode_delivery(d, sub.group)
    except Exception as e:
        return _exhausted(sub, d, describe(e))
    if d.attempt > sub.policy.max_deliver:
        return _exhausted(
            sub,
            d,
            f"LeaseExpired: delivery {d.attempt - 1} was neither acked nor extended "
            f"within ack_wait={sub.ack_wait:g}s",
        )
    inbox = sub.idempotent
    try:
        if inbox is not None and await inbox.seen(sub.group, msg.msg_id):
            return _ACK
        breaker = sub.breaker
        if breaker is None:
            result = sub.handler(msg)
            if result is not None:
                await result
        else:
            async with breaker:
                result = sub.handler(msg)
                if result is not None:
                    await result
        if inbox is not None:
            await inbox.record(sub.group, msg.msg_id)
    except AlreadyHandled:
        return _ACK
    except Reject as e:
        return _exhausted(sub, d, e.reason)
    except CircuitOpenError as e:
        log.info("group %r: circuit open, %r deferred", sub.group, d.msg_id)
        return Outcome(Settlement.NAK, delay=max(e.retry_after, 0.01), count=False)
    except Exception as e:
        error = describe(e)
        if not sub.policy.should_retry(d.attempt):
            return _exhausted(sub, d, error)
        delay = sub.policy.delay(d.attempt)
        log.warning(
            "group %r: handler failed on delivery %d of %r, retry in %.3gs: %s",
            sub.group,
            d.attempt,
            d.msg_id,
            delay,
            error,
        )
        return Outcome(Settlement.NAK, delay=delay)
    return _ACK
