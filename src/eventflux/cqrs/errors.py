"""Errors of the CQRS layer (buses, middleware, projections).

They join the eventflux tree under :class:`~eventflux.EventfluxError`::

    EventfluxError
    └── CqrsError
        ├── HandlerAlreadyRegistered (ValueError)  a second handler for one message type
        ├── NoHandlerError (LookupError)           no handler for the dispatched type
        ├── ValidationFailed (ValueError)          the validation middleware refused it
        ├── NotAuthorized (PermissionError)        the authorization middleware refused it
        ├── ProjectionError                        a projection handler failed on an event
        └── UnknownProjection (LookupError)        no projection registered by that name
"""

from __future__ import annotations

from typing import Any

from ..exceptions import EventfluxError

__all__ = [
    "CqrsError",
    "HandlerAlreadyRegistered",
    "NoHandlerError",
    "NotAuthorized",
    "ProjectionError",
    "UnknownProjection",
    "ValidationFailed",
]


class CqrsError(EventfluxError):
    """Root of the command, query and projection errors."""


class HandlerAlreadyRegistered(CqrsError, ValueError):
    """A bus already has a handler for this message type (one handler per type)."""


class NoHandlerError(CqrsError, LookupError):
    """A message was dispatched but no handler is registered for its type."""

    def __init__(self, kind: str, message_type: type[Any]) -> None:
        self.message_type = message_type
        super().__init__(
            f"no {kind} handler is registered for {message_type.__qualname__}; "
            f"register one with @bus.handler({message_type.__name__})"
        )


class ValidationFailed(CqrsError, ValueError):
    """A command or query is invalid; ``errors`` lists what is wrong."""

    def __init__(self, message: Any, errors: list[str]) -> None:
        self.message = message
        self.errors = errors
        super().__init__(f"invalid {type(message).__name__}: {'; '.join(errors)}")


class NotAuthorized(CqrsError, PermissionError):
    """The authorization middleware refused a command or query."""


class ProjectionError(CqrsError):
    """A projection handler raised; nothing of its batch was written.

    ``position`` and ``event_type`` name the event that failed.
    """

    def __init__(self, projection: str, position: int, event_type: str, cause: BaseException):
        self.projection = projection
        self.position = position
        self.event_type = event_type
        super().__init__(
            f"projection {projection!r} failed on event {event_type!r} at position "
            f"{position}: {type(cause).__name__}: {cause}"
        )


class UnknownProjection(CqrsError, LookupError):
    """No projection is registered under that name."""
