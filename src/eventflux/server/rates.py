"""Live rates for the dashboard: counts per second over a short window.

Example::

    appended = RateCounter()
    appended.tick()
    appended.rate()        # events per second over the last 5 whole seconds
"""

from __future__ import annotations

import time
from collections import deque

__all__ = ["RateCounter"]


class RateCounter:
    """Counts things per whole second and reports the mean of the last
    ``window`` whole seconds, plus the total."""

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self.total = 0
        self._buckets: deque[tuple[int, int]] = deque(maxlen=window + 1)

    def tick(self, n: int = 1) -> None:
        """Count ``n`` things now."""
        self.total += n
        second = int(time.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + n)
        else:
            self._buckets.append((second, n))

    def rate(self) -> float:
        """Things per second over the last ``window`` whole seconds."""
        now = int(time.monotonic())
        counted = sum(n for second, n in self._buckets if now - self.window <= second < now)
        return counted / self.window
