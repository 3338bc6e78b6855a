"""CircuitBreaker: states, thresholds, listeners and emitters, usage forms."""

from __future__ import annotations

from typing import Any

import pytest

from eventflux import Reject
from eventflux.resilience import CircuitBreaker, CircuitOpenError, CircuitState, StateChange


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    raise ConnectionError("down")


async def ok() -> str:
    return "ok"


@pytest.mark.asyncio
async def test_consecutive_failures_open_then_half_open_then_close() -> None:
    clock = Clock()
    changes: list[StateChange] = []
    cb = CircuitBreaker("pay", failure_threshold=3, reset_timeout=10, clock=clock)
    cb.add_listener(changes.append)
    guarded = cb(fail)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await guarded()
    assert cb.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        await guarded()
    assert info.value.retry_after == pytest.approx(10)
    clock.now += 4
    assert cb.retry_after == pytest.approx(6)
    clock.now += 6
    assert cb.state is CircuitState.HALF_OPEN
    assert await cb(ok)() == "ok"
    assert cb.state is CircuitState.CLOSED
    assert [(c.old.value, c.new.value) for c in changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert changes[0].name == "pay"
    assert "3 consecutive failures" in changes[0].reason


@pytest.mark.asyncio
async def test_a_success_resets_the_consecutive_count() -> None:
    cb = CircuitBreaker(failure_threshold=2)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            await cb(fail)()
        await cb(ok)()
    assert cb.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_a_failed_trial_opens_again_and_trials_are_limited() -> None:
    clock = Clock()
    cb = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock)
    with pytest.raises(ConnectionError):
        await cb(fail)()
    clock.now += 5
    async with cb:  # the one trial call
        with pytest.raises(CircuitOpenError):
            async with cb:
                pass
        cb_state = cb.state
    assert cb_state is CircuitState.HALF_OPEN
    assert cb.state is CircuitState.CLOSED
    cb.trip()
    clock.now += 5
    with pytest.raises(ConnectionError):
        await cb(fail)()
    assert cb.state is CircuitState.OPEN
    assert cb.retry_after == pytest.approx(5)


@pytest.mark.asyncio
async def test_failure_rate_in_a_window() -> None:
    clock = Clock()
    cb = CircuitBreaker(
        failure_threshold=None, failure_rate=0.5, window=10, minimum_calls=4, clock=clock
    )
    await cb(ok)()
    with pytest.raises(ConnectionError):
        await cb(fail)()
    await cb(ok)()
    assert cb.state is CircuitState.CLOSED
    clock.now += 20  # the old calls leave the window
    for _ in range(3):
        await cb(ok)()
    with pytest.raises(ConnectionError):
        await cb(fail)()
    assert cb.state is CircuitState.CLOSED  # 1 of 4
    with pytest.raises(ConnectionError):
        await cb(fail)()
    with pytest.raises(ConnectionError):
        await cb(fail)()
    assert cb.state is CircuitState.OPEN  # 3 of 6


@pytest.mark.asyncio
async def test_excluded_errors_count_neither_way() -> None:
    cb = CircuitBreaker(failure_threshold=1, exclude=(KeyError,))
    with pytest.raises(KeyError):
        async with cb:
            raise KeyError("bad input")
    with pytest.raises(Reject):
        async with cb:
            raise Reject("bad message")
    assert cb.state is CircuitState.CLOSED


def test_state_changes_are_emitted_on_an_emitter() -> None:
    seen: list[tuple[str, Any]] = []

    class Emitter:
        def emit(self, event: str, /, *args: Any) -> bool:
            seen.append((event, args[0].new))
            return True

    cb = CircuitBreaker("x", failure_threshold=1, emitter=Emitter())
    cb.record_failure(ConnectionError())
    assert seen == [("state_change", CircuitState.OPEN), ("open", CircuitState.OPEN)]
    cb.reset()
    assert seen[-1] == ("closed", CircuitState.CLOSED)


def test_a_failing_listener_does_not_break_the_breaker() -> None:
    cb = CircuitBreaker(failure_threshold=1)

    @cb.add_listener
    def broken(change: StateChange) -> None:
        raise RuntimeError("listener bug")

    cb.record_failure()
    assert cb.state is CircuitState.OPEN
    cb.remove_listener(broken)


def test_works_with_the_eventflux_emitter() -> None:
    from eventflux.emitter import EventEmitter

    em = EventEmitter()
    got: list[StateChange] = []
    em.on("open", got.append)
    cb = CircuitBreaker("pay", failure_threshold=1, emitter=em)
    cb.record_failure()
    assert [c.new for c in got] == [CircuitState.OPEN]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": None},
        {"failure_threshold": 0},
        {"failure_rate": 1.5},
        {"failure_rate": 0},
        {"reset_timeout": -1},
        {"window": 0},
        {"half_open_max_calls": 0},
    ],
)
def test_bad_settings_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        CircuitBreaker(**kwargs)


def test_repr_and_listener_check() -> None:
    cb = CircuitBreaker("db")
    assert repr(cb) == "<CircuitBreaker 'db' closed>"
    with pytest.raises(TypeError):
        cb.add_listener(None)  # type: ignore[arg-type]
