"""Backends that pass every call on to another one, to observe the consumer
runtime or inject faults through the public backend interface alone.

Subclass :class:`BackendWrapper` (and :class:`MemberWrapper`, returned by its
:meth:`~BackendWrapper.wrap_member`) and override what the test watches::

    class Counting(MemberWrapper):
        fetched = 0

        async def fetch(self, max_messages, max_wait):
            batch = await super().fetch(max_messages, max_wait)
            Counting.fetched += len(batch)
            return batch

    class Spy(BackendWrapper):
        def wrap_member(self, handle):
            return Counting(handle)

    bus = MessageBus(Spy(inner_bus.backend, close_inner=False))
"""

from __future__ import annotations

from collections.abc import Sequence

from ...bus.backend import (
    BusBackend,
    Delivery,
    Envelope,
    GroupStats,
    MemberHandle,
    Revoke,
    StoredLetter,
)
from ...resilience.inbox import Inbox

__all__ = ["BackendWrapper", "HeldCounter", "MemberWrapper"]


class MemberWrapper(MemberHandle):
    """A member handle that passes every call on to ``inner``."""

    def __init__(self, inner: MemberHandle) -> None:
        self.inner = inner

    @property
    def ack_wait(self) -> float:
        return self.inner.ack_wait

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        return await self.inner.fetch(max_messages, max_wait)

    def wake(self) -> None:
        self.inner.wake()

    async def ack(self, delivery: Delivery) -> None:
        await self.inner.ack(delivery)

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        await self.inner.nak(delivery, delay, count=count)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        await self.inner.release(deliveries)

    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        await self.inner.extend(deliveries)

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        await self.inner.dead_letter(delivery, error)

    async def starting(self, delivery: Delivery) -> None:
        await self.inner.starting(delivery)

    async def leave(self) -> None:
        await self.inner.leave()


class BackendWrapper(BusBackend):
    """A backend that passes every call on to ``inner`` (its key order and
    durability included). With ``close_inner=False`` closing it leaves
    ``inner`` open (close the bus that owns ``inner`` yourself)."""

    def __init__(self, inner: BusBackend, *, close_inner: bool = True) -> None:
        self.inner = inner
        self.durable = inner.durable
        self.key_order = inner.key_order
        self.dedup_window = inner.dedup_window
        self.close_inner = close_inner

    def wrap_member(self, handle: MemberHandle) -> MemberHandle:
        """The handle the runtime gets for a member that joined ``inner``."""
        return handle

    async def publish(self, envelopes: Sequence[Envelope]) -> list[bool]:
        return await self.inner.publish(envelopes)

    def declare(self, group: str, pattern: str) -> None:
        self.inner.declare(group, pattern)

    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        handle = await self.inner.join(
            group, pattern, ack_wait=ack_wait, concurrency=concurrency, revoke=revoke
        )
        return self.wrap_member(handle)

    async def list_letters(self, group: str | None) -> list[StoredLetter]:
        return await self.inner.list_letters(group)

    async def retry_letter(self, letter_id: str) -> bool:
        return await self.inner.retry_letter(letter_id)

    async def purge_letters(self, group: str | None) -> int:
        return await self.inner.purge_letters(group)

    def inbox(self) -> Inbox:
        return self.inner.inbox()

    async def load_checkpoint(self, name: str) -> int | None:
        return await self.inner.load_checkpoint(name)

    async def save_checkpoint(self, name: str, value: int) -> None:
        await self.inner.save_checkpoint(name, value)

    async def group_stats(self) -> list[GroupStats]:
        return await self.inner.group_stats()

    async def close(self) -> None:
        if self.close_inner:
            await self.inner.close()


class HeldCounter(MemberWrapper):
    """Counts what its member holds: fetched and not yet settled (``held``), and
    the most it ever held at once (``most``)."""

    def __init__(self, inner: MemberHandle) -> None:
        super().__init__(inner)
        self.held = 0
        self.most = 0

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        batch = await super().fetch(max_messages, max_wait)
        self.held += len(batch)
        self.most = max(self.most, self.held)
        return batch

    async def ack(self, delivery: Delivery) -> None:
        self.held -= 1
        await super().ack(delivery)

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        self.held -= 1
        await super().nak(delivery, delay, count=count)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        self.held -= len(deliveries)
        await super().release(deliveries)

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        self.held -= 1
        await super().dead_letter(delivery, error)
