"""The retry policy: how many deliveries, and how long to wait between them.

The bus uses one per subscription (``max_deliver`` and ``backoff``); it is also
usable on its own to retry any coroutine.

The delay before attempt ``n + 1`` (after attempt ``n`` failed) is
``min(maximum, initial * 2 ** (n - 1))`` times a random factor in [0.5, 1.0]
("equal jitter": retries of many failing messages spread out, yet never come
sooner than half the nominal delay).

Example::

    policy = RetryPolicy(max_deliver=5, backoff=(0.1, 30.0))
    policy.delay(1)   # between 0.05 and 0.1
    policy.delay(3)   # between 0.2 and 0.4
    result = await policy.call(fetch_quote, "ACME", retry_on=(TimeoutError,))
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

__all__ = ["RetryPolicy"]

P = ParamSpec("P")
T = TypeVar("T")


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_deliver`` attempts in all (the first included; 1 = no retry), with an
    exponential ``backoff=(initial, maximum)`` in seconds between them."""

    max_deliver: int = 5
    backoff: tuple[float, float] = (0.1, 30.0)

    def __post_init__(self) -> None:
        n = self.max_deliver
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"max_deliver must be an int, not {n!r}")
        if n < 1:
            raise ValueError(f"max_deliver must be >= 1 (1 = no retry), got {n}")
        b = self.backoff
        if not isinstance(b, tuple | list) or len(b) != 2:
            raise TypeError(f"backoff must be a pair (initial, maximum) of seconds, not {b!r}")
        initial = _check_number("backoff initial", b[0])
        maximum = _check_number("backoff maximum", b[1])
        if initial > maximum:
            raise ValueError(f"backoff initial {initial} is larger than its maximum {maximum}")
        object.__setattr__(self, "backoff", (initial, maximum))

    def base_delay(self, attempt: int) -> float:
        """The delay before attempt ``attempt + 1`` without jitter."""
        initial, maximum = self.backoff
        if attempt < 1:
            return 0.0
        if attempt > 64:  # 2**63 overflows floats long after any maximum is reached
            return maximum
        return float(min(maximum, initial * 2.0 ** (attempt - 1)))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The delay before attempt ``attempt + 1``, with jitter in [0.5, 1.0]."""
        return self.base_delay(attempt) * (0.5 + 0.5 * rand())

    def should_retry(self, attempt: int) -> bool:
        """True if attempt ``attempt`` failing leaves another attempt."""
        return attempt < self.max_deliver

    async def call(
        self,
        fn: Callable[P, Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Await ``fn(*args, **kwargs)``, retrying any ``Exception`` with backoff
        until ``max_deliver`` attempts failed; then the last error propagates.

        Use :meth:`retrying` to retry only some exception types.
        """
        return await self.retrying(Exception)(fn)(*args, **kwargs)

    def retrying(
        self, *retry_on: type[BaseException]
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
        """Decorator: retry the coroutine function on the given exception types.

        Example::

            @RetryPolicy(3, (0.2, 2.0)).retrying(ConnectionError)
            async def send(order): ...
        """
        kinds = retry_on or (Exception,)

        def deco(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                attempt = 1
                while True:
                    try:
                        return await fn(*args, **kwargs)
                    except kinds:
                        if not self.should_retry(attempt):
                            raise
                    await asyncio.sleep(self.delay(attempt))
                    attempt += 1

            wrapper.__name__ = getattr(fn, "__name__", "wrapper")
            wrapper.__doc__ = getattr(fn, "__doc__", None)
            return wrapper

        return deco
