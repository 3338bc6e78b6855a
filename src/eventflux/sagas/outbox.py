"""Sending what a committed reaction decided: its commands through the
App's handlers and its messages on the bus, in order, with the ids recorded
in the reaction's event.

After a crash between a commit and its sends, the input comes back and the
same sends go out again with the same ids (receivers recognise them). Within
one process, the outbox remembers how far each reaction's sends went, so a
repeated delivery sends only what did not go out yet.

Example::

    outbox = Outbox(app, bus)
    await outbox.deliver(event_id, out, originals, correlation_id, actor)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, Protocol

from ..bus import MessageBus
from ..context import ACTOR, CAUSATION_ID, CORRELATION_ID, replace_metadata
from .commands import decode_command, type_paths

__all__ = ["CommandSender", "Outbox"]

#: Reactions whose sends and publishes one process remembers delivering.
_REMEMBERED: Final = 10_000


class CommandSender(Protocol):
    """What the outbox needs of its App: dispatching commands in-process."""

    @property
    def command_types(self) -> tuple[type[Any], ...]: ...

    async def dispatch(
        self,
        command: object,
        metadata: Mapping[str, Any] | None = None,
        *,
        command_id: str | None = None,
    ) -> Any: ...


class Outbox:
    """Sends the commands and publishes the messages of committed reactions."""

    def __init__(self, app: CommandSender, bus: MessageBus) -> None:
        self.app = app
        self.bus = bus
        self._command_types: frozenset[type[Any]] = frozenset()
        self._known: dict[str, type[Any]] = {}
        #: reaction event id -> how many of its sends and publishes went out
        self._delivered: OrderedDict[str, int] = OrderedDict()

    def _refresh_commands(self) -> None:
        types = self.app.command_types
        if len(types) != len(self._command_types):
            self._command_types = frozenset(types)
            self._known = type_paths(types)

    def can_send(self, command_type: type[Any]) -> bool:
        """True if the App has a handler for ``command_type`` (or a base of it)."""
        self._refresh_commands()
        return any(t in self._command_types for t in command_type.__mro__)

    async def deliver(
        self,
        event_id: Any,
        out: list[dict[str, Any]],
        originals: list[object | None],
        correlation: str | None,
        actor: str | None,
    ) -> None:
        """Send and publish what the reaction recorded as ``event_id`` decided, in
        its order (skipping what this process already sent for it); each goes
        out with the reaction's event as its cause. ``originals`` holds the
        command objects when the reaction ran here (else they are rebuilt)."""
        if not out:
            return
        done_key = str(event_id)
        start = self._delivered.get(done_key, 0)
        if start >= len(out):
            return
        meta: dict[str, Any] = {CAUSATION_ID: done_key}
        if correlation is not None:
            meta[CORRELATION_ID] = correlation
        if actor is not None:
            meta[ACTOR] = actor
        with replace_metadata(meta):
            for i in range(start, len(out)):
                doc = out[i]
                if doc["kind"] == "send":
                    command = originals[i] if i < len(originals) else None
                    if command is None:
                        self._refresh_commands()
                        command = decode_command(doc, self._known)
                    await self.app.dispatch(command, command_id=doc["id"])
                else:
                    await self.bus.publish(
                        doc["subject"],
                        doc["data"],
                        msg_id=doc["id"],
                        key=doc.get("key"),
                        headers=doc.get("headers"),
                    )
                self._delivered[done_key] = i + 1
                self._delivered.move_to_end(done_key)
                if len(self._delivered) > _REMEMBERED:
                    self._delivered.popitem(last=False)
