"""An in-process cache of recently used aggregates, for a repository.

The cache holds private copies: what a caller does with an aggregate it got
never changes the cached one, and the other way round. Copies are pickled
(fast for plain state); aggregates that cannot be pickled (classes defined
inside functions, say) are deep-copied instead. Entries are evicted least
recently used first.
"""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from typing import Generic, TypeVar

from .aggregate import Aggregate

__all__ = ["AggregateCache"]

A = TypeVar("A", bound=Aggregate)


class AggregateCache(Generic[A]):
    """Up to ``size`` aggregates by id, each as it was last loaded or saved."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {size!r}")
        self.size = size
        self._entries: OrderedDict[str, bytes | A] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, aggregate: A) -> None:
        """Keep a copy of ``aggregate`` if it has nothing pending (its state is stored)."""
        if not self.size or aggregate.version != aggregate.saved_version:
            return
        entry: bytes | A
        try:
            entry = pickle.dumps(aggregate, pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError):
            entry = copy.deepcopy(aggregate)
        self._entries[aggregate.id] = entry
        self._entries.move_to_end(aggregate.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def take(self, aggregate_id: str) -> A | None:
        """A copy of the cached aggregate, or None."""
        entry = self._entries.get(aggregate_id)
        if entry is None:
            return None
        self._entries.move_to_end(aggregate_id)
        if isinstance(entry, bytes):
            aggregate: A = pickle.loads(entry)
            return aggregate
        return copy.deepcopy(entry)

    def drop(self, aggregate_id: str) -> None:
        """Forget an aggregate (it turned out to be stale)."""
        self._entries.pop(aggregate_id, None)
