"""Circuit breakers are findable by name: each joins the registry when it is
created, weakly held; ``failures`` and ``last_change`` describe it."""

from __future__ import annotations

import gc

import pytest

from eventflux.resilience import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitState,
    find_breaker,
    registered_breakers,
)


def test_a_breaker_is_found_by_name_once_created() -> None:
    payments = CircuitBreaker("registry-test-payments")
    assert find_breaker("registry-test-payments") is payments
    assert payments in registered_breakers()
    assert find_breaker("registry-test-nobody") is None


def test_the_newest_breaker_of_a_name_wins_and_all_are_listed() -> None:
    first = CircuitBreaker("registry-test-twice")
    second = CircuitBreaker("registry-test-twice")
    assert find_breaker("registry-test-twice") is second
    named = [b for b in registered_breakers() if b.name == "registry-test-twice"]
    assert named == [first, second]


def test_a_breaker_nobody_holds_leaves_the_registry() -> None:
    CircuitBreaker("registry-test-gone")
    gc.collect()
    assert find_breaker("registry-test-gone") is None


def test_listing_is_by_name() -> None:
    registry: BreakerRegistry[CircuitBreaker] = BreakerRegistry()
    b, a = CircuitBreaker("b"), CircuitBreaker("a")
    registry.add(b)
    registry.add(a)
    registry.add(a)  # once only
    assert registry.all() == [a, b]
    assert len(registry) == 2
    registry.remove(a)
    registry.remove(a)
    assert registry.all() == [b]


@pytest.mark.asyncio
async def test_failures_and_the_last_change() -> None:
    breaker = CircuitBreaker("registry-test-state", failure_threshold=2)
    assert breaker.failures == 0
    assert breaker.last_change is None
    breaker.record_failure(ConnectionError("down"))
    assert breaker.failures == 1
    breaker.record_failure(ConnectionError("down"))
    change = breaker.last_change
    assert change is not None
    assert (change.old, change.new) == (CircuitState.CLOSED, CircuitState.OPEN)
    assert "ConnectionError: down" in change.reason
    breaker.reset()
    assert breaker.failures == 0
    assert breaker.last_change is not None
    assert breaker.last_change.new is CircuitState.CLOSED
