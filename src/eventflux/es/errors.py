"""Errors of the event-sourcing layer (aggregates and repositories).

They join the eventflux tree under :class:`~eventflux.EventfluxError`::

    EventfluxError
    └── AggregateError
        ├── AggregateNotFound (LookupError)    no such aggregate (at that time/version)
        ├── MissingApplyMethod (TypeError)     an event class has no @apply method
        └── DomainError                        a command broke a business rule
"""

from __future__ import annotations

from ..exceptions import EventfluxError

__all__ = ["AggregateError", "AggregateNotFound", "DomainError", "MissingApplyMethod"]


class AggregateError(EventfluxError):
    """Root of the aggregate and repository errors."""


class AggregateNotFound(AggregateError, LookupError):
    """The aggregate does not exist, or did not exist at the requested time or version.

    ``stream`` names the stream that was read; ``aggregate_id`` is the id asked for.
    """

    def __init__(self, aggregate_type: str, aggregate_id: str, stream: str, detail: str) -> None:
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.stream = stream
        super().__init__(f"{aggregate_type} {aggregate_id!r} not found: {detail}")


class MissingApplyMethod(AggregateError, TypeError):
    """An event reached an aggregate that has no ``@apply`` method for its class."""


class DomainError(AggregateError):
    """A command was refused because it would break a business rule.

    Derive your domain's refusals from it, so callers can catch them apart from
    infrastructure failures::

        class InsufficientFunds(DomainError):
            pass
    """
