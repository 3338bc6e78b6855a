"""The errors of sagas, all :class:`~eventflux.EventfluxError` subclasses.

::

    EventfluxError
    └── SagaError                              a saga could not do what was asked
        ├── SagaNotFoundError (LookupError)    no instance of that saga with that key
        ├── DeadlineNotFoundError (LookupError)    no pending deadline by that name
        └── SagaKeyError (ValueError)          a key function gave no usable key

Mistakes in a saga class (two handlers for one event type, a ``@timeout`` name
given twice) are :class:`~eventflux.ConfigurationError`, raised when the class
is defined or registered.

Example::

    try:
        await admin.cancel("Fulfilment", "o-404")
    except SagaNotFoundError as e:
        print(e)
"""

from __future__ import annotations

from ..exceptions import EventfluxError

__all__ = ["DeadlineNotFoundError", "SagaError", "SagaKeyError", "SagaNotFoundError"]


class SagaError(EventfluxError):
    """A saga could not do what was asked."""


class SagaNotFoundError(SagaError, LookupError):
    """There is no instance of the saga with that key."""

    def __init__(self, saga: str, key: str) -> None:
        self.saga = saga
        self.key = key
        super().__init__(
            f"saga {saga!r} has no instance with key {key!r}; "
            "list them with: eventflux sagas list --name " + saga
        )


class DeadlineNotFoundError(SagaError, LookupError):
    """The instance has no pending deadline by that name."""

    def __init__(self, saga: str, key: str, deadline: str) -> None:
        self.saga = saga
        self.key = key
        self.deadline = deadline
        super().__init__(
            f"saga {saga!r} instance {key!r} has no pending deadline {deadline!r}; "
            f"list them with: eventflux sagas deadlines --name {saga}"
        )


class SagaKeyError(SagaError, ValueError):
    """A ``key=`` function raised or returned something that is not a str."""
