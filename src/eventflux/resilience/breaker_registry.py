"""Where the circuit breakers of a process can be found by name.

Every :class:`~eventflux.resilience.CircuitBreaker` joins the default
registry (``eventflux.resilience.breaker.default_registry``) when it is
created, held weakly (a breaker nobody uses any more leaves on its own), so
tools that did not create it can show it: ``eventflux serve`` lists them at
``GET /api/breakers``, on the dashboard and in ``/metrics``.

Example::

    registry: BreakerRegistry[CircuitBreaker] = BreakerRegistry()
    registry.add(payments)
    registry.find("payments") is payments         # True
    [b.name for b in registry.all()]              # ["payments"]
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Generic, Protocol, TypeVar

__all__ = ["BreakerRegistry", "Named"]


class Named(Protocol):
    """What a registry holds: something with a name."""

    @property
    def name(self) -> str: ...


B = TypeVar("B", bound=Named)


class BreakerRegistry(Generic[B]):
    """The live circuit breakers, weakly held, in creation order.

    Names need not be unique: :meth:`find` answers the newest breaker of a
    name, :meth:`all` lists every one.
    """

    def __init__(self) -> None:
        self._breakers: weakref.WeakKeyDictionary[B, int] = weakref.WeakKeyDictionary()
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def add(self, breaker: B) -> None:
        """Register ``breaker`` (a circuit breaker does it when it is created)."""
        with self._lock:
            self._breakers.setdefault(breaker, next(self._counter))

    def remove(self, breaker: B) -> None:
        """Forget ``breaker`` (a no-op if it is not registered)."""
        with self._lock:
            self._breakers.pop(breaker, None)

    def all(self) -> list[B]:
        """Every live breaker, by name, then in creation order."""
        with self._lock:
            pairs = list(self._breakers.items())
        pairs.sort(key=lambda pair: (pair[0].name, pair[1]))
        return [breaker for breaker, _ in pairs]

    def find(self, name: str) -> B | None:
        """The newest live breaker called ``name``, or None."""
        with self._lock:
            pairs = [(order, b) for b, order in self._breakers.items() if b.name == name]
        return max(pairs, key=lambda pair: pair[0])[1] if pairs else None

    def __len__(self) -> int:
        return len(self._breakers)
