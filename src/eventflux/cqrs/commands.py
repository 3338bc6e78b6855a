"""The command bus: one handler per command type, middleware around all of them.

Example::

    bus = CommandBus(middleware=[logging_middleware(), validation_middleware()])

    @bus.handler(Deposit)
    async def deposit(command: Deposit) -> None:
        await accounts.update(command.account_id, lambda a: a.deposit(command.amount))

    await bus.dispatch(Deposit("42", 100), metadata={"user": "ann", "reason": "salary"})

Each dispatch opens a :func:`~eventflux.es.metadata_context`, so every event
the handler saves carries the caller's metadata, the correlation id (kept from
an outer context, else new), the command's own id as causation id, and the
command's type name under ``"command"``. A command dispatched outside any
correlation starts one: its correlation id is its own id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._internal.ids import new_id
from ..es.context import current_metadata, metadata_context
from ..events import CAUSATION_ID, CORRELATION_ID
from .dispatcher import Dispatcher

__all__ = ["CommandBus"]


class CommandBus(Dispatcher):
    """Routes commands (requests to change state) to their handlers."""

    kind: ClassVar[str] = "command"

    async def dispatch(self, command: object, *, metadata: Mapping[str, Any] | None = None) -> Any:
        """Run ``command`` through the middleware and its handler; return the result.

        ``metadata`` (who, why...) is added to the ambient metadata of the
        events saved meanwhile. An unknown command type raises
        :class:`~eventflux.cqrs.NoHandlerError`.
        """
        chain = self._chain_for(type(command))
        command_id = new_id()
        ids = {
            # a command with no correlation id yet starts a conversation: its own id
            CORRELATION_ID: (metadata or {}).get(CORRELATION_ID)
            or current_metadata().get(CORRELATION_ID)
            or command_id,
            CAUSATION_ID: command_id,
            "command": type(command).__name__,
        }
        with metadata_context(metadata, **ids):
            return await chain(command)
