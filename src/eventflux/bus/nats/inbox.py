"""The inbox of the NATS bus (``subscribe(..., idempotent=True)``), shared by
every process of the bus: handled ids live in the meta stream for a week.

Each ``(group, msg_id)`` is one subject ``inbox.<group>.<digest of the id>``
with a time to live; ``seen`` is one direct read, ``record`` one write.

Example::

    bus.subscribe("orders.paid", handler, group="stats", idempotent=True)
    await bus.inbox.seen("stats", "order-1")
"""

from __future__ import annotations

import hashlib

from ...resilience.inbox import DEFAULT_RETENTION, Inbox
from .meta import MetaStore

__all__ = ["NatsInbox"]


class NatsInbox(Inbox):
    """Handled message ids per group, in the bus's meta stream."""

    def __init__(self, meta: MetaStore, retention: float = DEFAULT_RETENTION) -> None:
        self._meta = meta
        self.retention = retention

    @staticmethod
    def _subject(group: str, msg_id: str) -> str:
        digest = hashlib.blake2b(msg_id.encode(), digest_size=16).hexdigest()
        return f"inbox.{group}.{digest}"

    async def seen(self, group: str, msg_id: str) -> bool:
        return await self._meta.get(self._subject(group, msg_id)) is not None

    async def record(self, group: str, msg_id: str) -> None:
        await self._meta.put(self._subject(group, msg_id), b"1", ttl=self.retention)
