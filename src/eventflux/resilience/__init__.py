"""Resilience: a retry policy, an inbox for idempotent consumers, a circuit breaker.

Example::

    from eventflux.resilience import CircuitBreaker, RetryPolicy, SQLiteInbox

    policy = RetryPolicy(max_deliver=5, backoff=(0.1, 30.0))
    breaker = CircuitBreaker("payments", failure_threshold=5, reset_timeout=30.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .breaker import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    StateChange,
    find_breaker,
    registered_breakers,
)
from .breaker_registry import BreakerRegistry
from .inbox import HandledMessage, Inbox, MemoryInbox
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .sqlite_inbox import SQLiteInbox


def __getattr__(name: str) -> object:
    # SQLiteInbox loads the sqlite3 driver only when it is asked for
    if name == "SQLiteInbox":
        from .sqlite_inbox import SQLiteInbox

        return SQLiteInbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "HandledMessage",
    "Inbox",
    "MemoryInbox",
    "RetryPolicy",
    "SQLiteInbox",
    "StateChange",
    "find_breaker",
    "registered_breakers",
]
