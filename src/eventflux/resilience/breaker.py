"""A circuit breaker: stop calling a failing dependency for a while.

States: **closed** (calls pass; failures are counted), **open** (calls fail at
once with :class:`CircuitOpenError` until ``reset_timeout`` has passed),
**half-open** (up to ``half_open_max_calls`` trial calls pass; ``success_threshold``
successes close the circuit, one failure opens it again).

The circuit opens after ``failure_threshold`` consecutive failures, or, with
``failure_rate``, when at least ``minimum_calls`` calls ended within the last
``window`` seconds and that share of them failed. Exceptions listed in
``exclude`` (and by default :class:`CircuitOpenError`, ``Reject`` and
``AlreadyHandled``, which say nothing about the dependency's health) count
neither way.

Every breaker registers itself (weakly) when it is created, so tools find it
by name: :func:`~eventflux.resilience.find_breaker`,
:func:`~eventflux.resilience.registered_breakers` (``eventflux serve`` shows
them at ``GET /api/breakers``).

Each state change is passed to listeners as a :class:`StateChange`, and emitted
on an optional :class:`~eventflux.EventEmitter` as ``"state_change"`` and as the
new state's name (``"open"``, ``"half_open"``, ``"closed"``).

Example::

    payments = CircuitBreaker("payments", failure_threshold=5, reset_timeout=30.0)

    @payments
    async def charge(order_id: str) -> None: ...

    async with payments:
        await gateway.refund(order_id)

    # on the bus: an open breaker defers messages without spending attempts
    bus.subscribe("orders.created", charge_handler, group="payments", breaker=payments)
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, ParamSpec, Protocol, Self, TypeVar

from ..exceptions import CircuitOpenError
from ..signals import AlreadyHandled, Reject
from .breaker_registry import BreakerRegistry

__all__ = [
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "StateChange",
    "default_registry",
    "find_breaker",
    "registered_breakers",
]

log = logging.getLogger("eventflux.resilience")
P = ParamSpec("P")
T = TypeVar("T")


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class StateChange:
    """A breaker went from ``old`` to ``new`` at ``at`` (aware UTC) because of ``reason``."""

    name: str
    old: CircuitState
    new: CircuitState
    at: datetime
    reason: str


class _Emitter(Protocol):
    def emit(self, event: str, /, *args: Any) -> bool: ...


Listener = Callable[[StateChange], object]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class CircuitBreaker:
    """Protects calls to one dependency; see the module docs for the states."""

    def __init__(
        self,
        name: str = "circuit",
        *,
        failure_threshold: int | None = 5,
        failure_rate: float | None = None,
        window: float = 60.0,
        minimum_calls: int = 10,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        exclude: tuple[type[BaseException], ...] = (),
        emitter: _Emitter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold is None and failure_rate is None:
            raise ValueError("give failure_threshold, failure_rate or both")
        self.name = name
        self.failure_threshold = (
            None if failure_threshold is None else _count("failure_threshold", failure_threshold)
        )
        if failure_rate is not None:
            rate = _positive("failure_rate", failure_rate)
            if rate > 1:
                raise ValueError(f"failure_rate is a share in (0, 1], got {failure_rate!r}")
        self.failure_rate = failure_rate
        self.window = _positive("window", window)
        self.minimum_calls = _count("minimum_calls", minimum_calls)
        self.reset_timeout = _positive("reset_timeout", reset_timeout, allow_zero=True)
        self.half_open_max_calls = _count("half_open_max_calls", half_open_max_calls)
        self.success_threshold = _count("success_threshold", success_threshold)
        self.exclude = (CircuitOpenError, Reject, AlreadyHandled, *exclude)
        self.emitter = emitter
        self._clock = clock
        self._listeners: list[Listener] = []
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._calls: deque[tuple[float, bool]] = deque()  # (ended at, failed)
        self._trials = 0
        self._trial_successes = 0
        self._last_change: StateChange | None = None
        default_registry.add(self)  # findable by name (weakly held)

    # -- observing -----------------------------------------------------------------
    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit turns half-open once its timeout passed)."""
        if self._state is CircuitState.OPEN and self.retry_after == 0:
            self._change(CircuitState.HALF_OPEN, "reset timeout elapsed")
        return self._state

    @property
    def retry_after(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    @property
    def failures(self) -> int:
        """Consecutive failures counted now (0 after a success or a close)."""
        return self._consecutive

    @property
    def last_change(self) -> StateChange | None:
        """The latest state change, or None while the breaker never changed."""
        return self._last_change

    def add_listener(self, fn: Listener) -> Listener:
        """Call ``fn(change)`` on every state change; returns ``fn`` (a decorator)."""
        if not callable(fn):
            raise TypeError("a listener must be callable")
        self._listeners.append(fn)
        return fn

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def _change(self, new: CircuitState, reason: str) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        if new is CircuitState.OPEN:
            self._opened_at = self._clock()
        if new is CircuitState.HALF_OPEN:
            self._trials = 0
            self._trial_successes = 0
        if new is CircuitState.CLOSED:
            self._consecutive = 0
            self._calls.clear()
        change = StateChange(self.name, old, new, datetime.now(UTC), reason)
        self._last_change = change
        log.info("circuit %r: %s -> %s (%s)", self.name, old.value, new.value, reason)
        for fn in list(self._listeners):
            try:
                fn(change)
            except Exception:
                log.exception("circuit %r: state listener %r failed", self.name, fn)
        if self.emitter is not None:
            try:
                self.emitter.emit("state_change", change)
                self.emitter.emit(new.value, change)
            except Exception:
                log.exception("circuit %r: emitting the state change failed", self.name)

    # -- the protocol ----------------------------------------------------------------
    def allow(self) -> None:
        """Take permission for one call, or raise :class:`CircuitOpenError`.

        Every successful ``allow()`` must be followed by :meth:`record_success`,
        :meth:`record_failure` or :meth:`record_ignored`.
        """
        state = self.state
        if state is CircuitState.OPEN:
            raise CircuitOpenError(self.name, self.retry_after)
        if state is CircuitState.HALF_OPEN:
            if self._trials >= self.half_open_max_calls:
                raise CircuitOpenError(self.name, max(self.reset_timeout / 10, 0.01))
            self._trials += 1

    def record_success(self) -> None:
        now = self._clock()
        if self._state is CircuitState.HALF_OPEN:
            self._trials = max(0, self._trials - 1)
            self._trial_successes += 1
            if self._trial_successes >= self.success_threshold:
                self._change(CircuitState.CLOSED, "trial calls succeeded")
            return
        self._consecutive = 0
        self._remember(now, False)

    def record_failure(self, error: BaseException | None = None) -> None:
        now = self._clock()
        what = "a failure" if error is None else f"{type(error).__name__}: {error}"
        if self._state is CircuitState.HALF_OPEN:
            self._trials = max(0, self._trials - 1)
            self._change(CircuitState.OPEN, f"trial call failed with {what}")
            return
        if self._state is CircuitState.OPEN:
            return
        self._consecutive += 1
        self._remember(now, True)
        if self.failure_threshold is not None and self._consecutive >= self.failure_threshold:
            self._change(
                CircuitState.OPEN, f"{self._consecutive} consecutive failures, last {what}"
            )
            return
        if self.failure_rate is not None and len(self._calls) >= self.minimum_calls:
            failed = sum(1 for _, f in self._calls if f)
            if failed / len(self._calls) >= self.failure_rate:
                self._change(
                    CircuitState.OPEN,
                    f"{failed} of {len(self._calls)} calls failed within {self.window:g} s",
                )

    def record_ignored(self) -> None:
        """End a permitted call that counts neither as success nor as failure."""
        if self._state is CircuitState.HALF_OPEN:
            self._trials = max(0, self._trials - 1)

    def _remember(self, now: float, failed: bool) -> None:
        if self.failure_rate is None:
            return
        calls = self._calls
        calls.append((now, failed))
        horizon = now - self.window
        while calls and calls[0][0] < horizon:
            calls.popleft()

    def reset(self) -> None:
        """Close the circuit and forget past failures."""
        self._change(CircuitState.CLOSED, "reset")
        self._consecutive = 0
        self._calls.clear()

    def trip(self) -> None:
        """Open the circuit now (for example from a health check)."""
        self._change(CircuitState.OPEN, "tripped")

    # -- usage forms -----------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self.allow()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.record_success()
        elif isinstance(exc, self.exclude) or not isinstance(exc, Exception):
            self.record_ignored()
        else:
            self.record_failure(exc)

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate a coroutine function so each call goes through the breaker."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            async with self:
                return await fn(*args, **kwargs)

        return guarded

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"


#: the registry every breaker joins when it is created
default_registry: BreakerRegistry[CircuitBreaker] = BreakerRegistry()


def registered_breakers() -> list[CircuitBreaker]:
    """Every live circuit breaker of this process, by name, then creation order.

    Example::

        [b.name for b in registered_breakers()]     # ["payments", "shipping"]
    """
    return default_registry.all()


def find_breaker(name: str) -> CircuitBreaker | None:
    """The newest live circuit breaker called ``name``, or None.

    Example::

        payments = CircuitBreaker("payments")
        assert find_breaker("payments") is payments
    """
    return default_registry.find(name)
