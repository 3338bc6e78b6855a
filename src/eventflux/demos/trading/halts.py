"""Trading halts: a circuit breaker per symbol that opens on a violent move.

:class:`HaltMonitor` watches a symbol's trade prices over a sliding window
(default 60 s). When a price is more than ``max_move`` (default 10%) away
from any price traded within the window, it trips the symbol's
:class:`~eventflux.resilience.CircuitBreaker` (named ``trading-halt-<SYMBOL>``,
so the dashboard's breaker list shows it): the symbol is halted. After
``cooldown`` seconds the breaker lets a trial through (half-open), the
exchange resumes the symbol and closes the breaker. The exchange records
each transition as an event (``TradingHalted``, ``TradingResumed``). The
clock is injectable, so tests move time by hand.

Example::

    clock = ManualClock()
    monitor = HaltMonitor("ACME", max_move=0.10, window=60.0, cooldown=30.0, clock=clock)
    monitor.observe(10_000)            # None
    monitor.observe(11_500)            # Move(reference=10_000, price=11_500, bps=1500)
    monitor.trip(move)                 # breaker open: halted
    clock.advance(30.0)
    monitor.may_resume()               # True: cooldown over
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ...resilience import CircuitBreaker, CircuitState

__all__ = ["HaltMonitor", "ManualClock", "Move"]


class ManualClock:
    """A clock for tests: it moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True, slots=True)
class Move:
    """A price move beyond the limit: from ``reference`` to ``price``, in basis points."""

    reference: int
    price: int
    bps: int


class HaltMonitor:
    """One symbol's price-move watch and its circuit breaker."""

    def __init__(
        self,
        symbol: str,
        *,
        max_move: float = 0.10,
        window: float = 60.0,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_move < 1:
            raise ValueError(f"max_move is a share in (0, 1), got {max_move!r}")
        self.symbol = symbol
        self.max_bps = round(max_move * 10_000)
        self.window = window
        self.cooldown = cooldown
        self.clock = clock
        self.breaker = CircuitBreaker(
            f"trading-halt-{symbol}", failure_threshold=1, reset_timeout=cooldown, clock=clock
        )
        self._lows: deque[tuple[float, int]] = deque()  # (time, price), prices rising
        self._highs: deque[tuple[float, int]] = deque()  # prices falling

    @property
    def halted(self) -> bool:
        return self.breaker.state is not CircuitState.CLOSED

    def observe(self, price: int) -> Move | None:
        """Record a trade price; the move it makes, if beyond the limit.

        The lowest and highest prices of the window are kept in monotonic
        queues, so each observation costs O(1) on average.
        """
        now = self.clock()
        horizon = now - self.window
        lows, highs = self._lows, self._highs
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((now, price))
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((now, price))
        while lows[0][0] < horizon:
            lows.popleft()
        while highs[0][0] < horizon:
            highs.popleft()
        low, high = lows[0][1], highs[0][1]
        up = (price - low) * 10_000 // low
        down = (high - price) * 10_000 // high
        if up > self.max_bps and up >= down:
            return Move(low, price, up)
        if down > self.max_bps:
            return Move(high, price, down)
        return None

    def trip(self) -> None:
        """Halt: open the breaker (it half-opens after the cooldown)."""
        self.breaker.trip()
        self._lows.clear()
        self._highs.clear()

    def may_resume(self) -> bool:
        """True once a halted symbol's cooldown has passed."""
        return self.breaker.state is CircuitState.HALF_OPEN

    def resume(self) -> None:
        """Close the breaker after the cooldown (a successful trial)."""
        if self.breaker.state is CircuitState.HALF_OPEN:
            self.breaker.allow()
            self.breaker.record_success()
        else:
            self.breaker.reset()
        self._lows.clear()
        self._highs.clear()

    @property
    def retry_after(self) -> float:
        """Seconds until a halted symbol may resume (0 when not halted)."""
        return self.breaker.retry_after
