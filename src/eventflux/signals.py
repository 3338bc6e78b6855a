"""Control-flow signals: raised on purpose to steer the bus, not errors.

They are not part of the :class:`~eventflux.EventfluxError` tree, so
``except EventfluxError`` (or ``except BusError``) in a handler never swallows
them by mistake.

- :class:`Reject`: raise it from a bus handler to send the message to the
  dead-letter queue at once, with ``reason`` as its error.
- :class:`AlreadyHandled`: raised by an inbox transaction when this group
  handled the message before; the bus acknowledges the message.

Example::

    @bus.subscribe("orders.created", group="payments")
    async def charge(msg: Message) -> None:
        if msg.data.get("amount", 0) <= 0:
            raise Reject("an order must have a positive amount")
"""

from __future__ import annotations

__all__ = ["AlreadyHandled", "Reject"]


class Reject(Exception):
    """Raise from a bus handler to send the message to the dead-letter queue at once."""

    def __init__(self, reason: str = "rejected") -> None:
        self.reason = reason
        super().__init__(reason)


class AlreadyHandled(Exception):
    """The inbox recorded this message as handled by this group already.

    Raised by ``Inbox.transaction``; a bus handler lets it propagate and the bus
    acknowledges the message.
    """

    def __init__(self, group: str, msg_id: str) -> None:
        self.group = group
        self.msg_id = msg_id
        super().__init__(f"message {msg_id!r} was already handled by group {group!r}")
