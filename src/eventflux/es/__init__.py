"""Event sourcing: aggregates that record and apply events, and the repository
that loads them (now, as of a time, or at a version; from a snapshot when one
fits) and saves their new events with optimistic concurrency.

Example::

    from eventflux.es import Aggregate, Repository, apply

    accounts = Repository(store, Account, snapshot_every=100)
    await accounts.update("42", lambda account: account.deposit(5), retries=3)
"""

from __future__ import annotations

from ..exceptions import (
    AggregateError,
    AggregateNotFoundError,
    DomainError,
    MissingApplyMethodError,
)
from .aggregate import Aggregate, apply
from .context import current_metadata, metadata_context
from .repository import Repository, save_together
from .retry import retry_on_conflict

__all__ = [
    "Aggregate",
    "AggregateError",
    "AggregateNotFoundError",
    "DomainError",
    "MissingApplyMethodError",
    "Repository",
    "apply",
    "current_metadata",
    "metadata_context",
    "retry_on_conflict",
    "save_together",
]
