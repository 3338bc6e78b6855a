"""``idempotent=True`` on the SQLite bus: handled ids in the bus file (``bus_inbox``),
shared by every process that opens it.

Example::

    inbox = SQLiteBusInbox(ctx)
    if not await inbox.seen("stats", "order-1"): ...
"""

from __future__ import annotations

from ...resilience.inbox import Inbox
from .context import SQLiteContext
from .ops import Ops

__all__ = ["SQLiteBusInbox"]


class SQLiteBusInbox(Inbox):
    """The inbox of a SQLite bus handle (its writer runs the statements)."""

    def __init__(self, ctx: SQLiteContext) -> None:
        self._ctx = ctx

    async def seen(self, group: str, msg_id: str) -> bool:
        result: bool = await self._ctx.submit(Ops.inbox_seen, group, msg_id)
        return result

    async def record(self, group: str, msg_id: str) -> None:
        await self._ctx.submit(Ops.inbox_record, group, msg_id)
