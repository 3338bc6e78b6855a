"""Connection limits: how many live connections (SSE, WebSocket) one token holds.

Example::

    with limiter.hold(principal.key):
        ...  # stream to the client
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ApiError

__all__ = ["ConnectionLimiter"]


class ConnectionLimiter:
    """Counts live connections per key (a token id, or ``"open"``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()

    def count(self, key: str) -> int:
        """Live connections held by ``key``."""
        return self._counts[key]

    def acquire(self, key: str) -> None:
        """Take a slot for ``key``, or raise 429 when it holds ``limit`` already."""
        if self._counts[key] >= self.limit:
            raise ApiError(
                429,
                "TooManyConnections",
                f"this token holds {self.limit} live connections already (the limit); "
                "close one first",
                headers={"Retry-After": "5"},
                limit=self.limit,
            )
        self._counts[key] += 1

    def release(self, key: str) -> None:
        """Give back a slot taken with :meth:`acquire`."""
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold a slot for the ``with`` block."""
        self.acquire(key)
        try:
            yield
        finally:
            self.release(key)
