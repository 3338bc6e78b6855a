"""The inbox: makes a handler idempotent by remembering handled message ids.

Delivery is at least once, so a handler may see a message again (a crash
before the ack, an expired lease). An inbox records ``(group, msg_id)`` once
the handler succeeded and answers "seen before?" on the next delivery.

``bus.subscribe(..., idempotent=True)`` uses the bus's own inbox: the
handler is skipped for ids it handled before. Effects outside the bus can
still repeat if the process dies between the effect and the record; to make
them exactly-once, keep the read model in SQLite and write it in the *same
transaction* as the record, with :meth:`eventflux.resilience.SQLiteInbox.transaction`::

    inbox = SQLiteInbox("sqlite:///read_model.db")

    @bus.subscribe("orders.paid", group="stats")
    async def count(msg: Message) -> None:
        async with inbox.transaction(msg) as db:   # raises AlreadyHandled on a repeat
            db.execute("UPDATE totals SET paid = paid + ?", (msg.data["amount"],))

Both commit together or not at all; a repeat raises :class:`AlreadyHandled`,
which the bus treats as success (it acks the message).
"""

from __future__ import annotations

import abc
import time
from collections import OrderedDict
from typing import Final, Protocol

__all__ = ["DEFAULT_RETENTION", "HandledMessage", "Inbox", "MemoryInbox"]

#: How long handled ids are remembered (seconds): 7 days.
DEFAULT_RETENTION: Final = 7 * 24 * 3600.0


class HandledMessage(Protocol):
    """What an inbox needs of a message: its id and the group it was delivered
    to (:class:`eventflux.bus.Message` has both)."""

    @property
    def msg_id(self) -> str: ...

    @property
    def group(self) -> str | None: ...


class Inbox(abc.ABC):
    """Remembers which message ids each consumer group has handled."""

    @abc.abstractmethod
    async def seen(self, group: str, msg_id: str) -> bool:
        """True if ``group`` recorded ``msg_id`` as handled."""

    @abc.abstractmethod
    async def record(self, group: str, msg_id: str) -> None:
        """Record ``msg_id`` as handled by ``group`` (recording twice is harmless)."""


class MemoryInbox(Inbox):
    """An inbox in this process's memory, forgetting ids after ``retention`` seconds."""

    def __init__(self, retention: float = DEFAULT_RETENTION) -> None:
        self.retention = retention
        self._ids: OrderedDict[tuple[str, str], float] = OrderedDict()

    def _purge(self, now: float) -> None:
        ids = self._ids
        while ids:
            key, at = next(iter(ids.items()))
            if at + self.retention > now:
                break
            del ids[key]

    async def seen(self, group: str, msg_id: str) -> bool:
        self._purge(time.monotonic())
        return (group, msg_id) in self._ids

    async def record(self, group: str, msg_id: str) -> None:
        key = (group, msg_id)
        self._ids.pop(key, None)
        self._ids[key] = time.monotonic()
