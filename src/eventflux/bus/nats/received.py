"""What one member of the NATS bus received and has not settled: buffered
messages (not handed to the runtime yet) and handed-out ones, with the
bookkeeping of giving them back.

Every received message is tracked until it is settled or given back. Giving
back goes in stream order and records the handler runs so that the next
delivery carries the right attempt (see :mod:`.delivery`).

Example::

    received = Received(ctx, "payments-1a2b3c4d", "payments")
    d = await received.add(lane, msg)        # None for a redelivery we still hold
    batch = received.take(16, draining=set())
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Collection
from typing import Any, Final

from ..backend import Delivery
from . import wire
from .context import NatsContext
from .delivery import DeliveryState, NatsDelivery

__all__ = ["Received", "by_seq"]

log = logging.getLogger("eventflux.bus.nats")

_GONE: Final = DeliveryState.GONE
_BUFFERED: Final = DeliveryState.BUFFERED
_OUT: Final = DeliveryState.OUT


def by_seq(d: NatsDelivery) -> int:
    """Sort key: the stream sequence."""
    return d.seq


class Received:
    """The unsettled messages of one member."""

    def __init__(self, ctx: NatsContext, gid: str, group: str) -> None:
        self.ctx = ctx
        self.gid = gid
        self.group = group
        #: received, to hand out, in arrival order (stale entries are skipped)
        self.buffer: deque[NatsDelivery] = deque()
        self.tracked: set[NatsDelivery] = set()
        self.by_seq: dict[int, NatsDelivery] = {}
        self.per_lane: dict[int, int] = {}

    async def add(self, lane: int, msg: Any) -> NatsDelivery | None:
        """Track a message that arrived on ``lane``; None when it is a redelivery of
        one still held (its ack_wait ran out: a stalled event loop), which keeps
        its place and settles through the newer delivery."""
        nd, seq, _pending = wire.ack_fields(msg.reply)
        known = self.by_seq.get(seq)
        if known is not None:
            known.msg = msg
            known.nd = nd
            return None
        ctx = self.ctx
        saved = await ctx.load_runs(self.gid, seq) if nd > 1 else 0
        meta = wire.read_meta(msg.headers)
        d = NatsDelivery(
            wire.split_subject(msg.subject, ctx.prefix_len),
            msg.data,
            meta.msg_id or f"{ctx.settings.stream}-{seq}",
            meta.key,
            meta.headers.encode() if meta.headers else {},
            saved + 1,
            meta.published_at or time.time(),
            msg,
            lane,
            seq,
            nd,
            saved,
            meta.letter,
        )
        self.tracked.add(d)
        self.by_seq[seq] = d
        self.per_lane[lane] = self.per_lane.get(lane, 0) + 1
        return d

    def take(self, n: int, draining: Collection[int]) -> list[Delivery]:
        """Hand out up to ``n`` buffered messages, skipping partitions being handed over."""
        out: list[Delivery] = []
        buffer = self.buffer
        while buffer and len(out) < n:
            d = buffer.popleft()
            if d.state is not _BUFFERED or d.lane in draining:
                continue  # given back meanwhile, or its partition is being handed over
            d.state = _OUT
            out.append(d)
        return out

    def forget(self, d: NatsDelivery) -> None:
        """``d`` is settled or given back: stop tracking it."""
        d.state = _GONE
        self.tracked.discard(d)
        if self.by_seq.get(d.seq) is d:
            del self.by_seq[d.seq]
        self.per_lane[d.lane] -= 1

    def in_stream_order(self) -> list[NatsDelivery]:
        return sorted(self.tracked, key=by_seq)

    async def record_runs(self, d: NatsDelivery, runs: int) -> None:
        """Make the recorded handler runs of ``d``'s message ``runs``."""
        if runs != d.saved:
            await self.ctx.save_runs(self.gid, d.seq, runs)
            d.saved = runs

    async def give_back(self, d: NatsDelivery, delay: float, runs: int) -> None:
        """Nak ``d`` (already forgotten) once ``runs`` handler runs are recorded, so
        that its next delivery carries ``runs + 1``."""
        await self.record_runs(d, runs)
        await d.msg.nak(delay=delay if delay > 0 else None)

    async def give_back_all(self, batch: Collection[NatsDelivery], state: DeliveryState) -> None:
        """Give back the messages of ``batch`` that are in ``state``, in stream order,
        each delivery un-counted."""
        for d in sorted(batch, key=by_seq):
            if d.state is state:
                self.forget(d)
                try:
                    await self.give_back(d, 0.0, d.attempt - 1)
                except Exception as e:  # the message comes back after ack_wait anyway
                    log.warning("group %r: releasing a message failed: %s", self.group, e)
