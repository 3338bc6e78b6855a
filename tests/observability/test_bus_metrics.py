"""The bus's Prometheus hooks, counted in a real registry: deliveries by outcome,
handler duration, in-flight handlers, acks/retries/rejects, handler errors by
exception type, breaker state and publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from eventflux import Reject
from eventflux.bus import Message, open_bus
from eventflux.observability.metrics import Metrics, disable_metrics, enable_metrics
from eventflux.resilience import CircuitBreaker
from eventflux.testing.bus_contract import eventually, eventually_letters


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    disable_metrics()
    reg = CollectorRegistry()
    enable_metrics(reg)
    try:
        yield reg
    finally:
        disable_metrics()


def _value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    value = reg.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.asyncio
async def test_deliveries_are_counted_by_outcome(registry: CollectorRegistry) -> None:
    async with await open_bus("memory://") as bus:

        async def handle(msg: Message) -> None:
            kind = msg.data["kind"]
            if kind == "reject":
                raise Reject("bad")
            if kind == "flaky" and msg.attempt == 1:
                raise ConnectionError("once")
            if kind == "broken":
                raise KeyError("always")

        bus.subscribe("work", handle, group="g", max_deliver=2, backoff=(0.01, 0.01))
        for kind in ("ok", "ok", "flaky", "reject", "broken"):
            await bus.publish("work", {"kind": kind})
        await eventually_letters(bus, 2)
        await eventually(
            lambda: (
                _value(registry, "eventflux_bus_deliveries_total", group="g", outcome="ack") == 3
            ),
            what="three acks",
        )

    def deliveries(outcome: str) -> float:
        return _value(registry, "eventflux_bus_deliveries_total", group="g", outcome=outcome)

    assert deliveries("ack") == 3  # two ok, the flaky one's retry
    assert deliveries("retry") == 2  # flaky, broken (first runs)
    assert deliveries("reject") == 1
    assert deliveries("dead_letter") == 1  # broken, second run
    assert _value(registry, "eventflux_bus_acks_total", group="g") == 3
    assert _value(registry, "eventflux_bus_retries_total", group="g") == 2
    assert _value(registry, "eventflux_bus_rejects_total", group="g") == 1
    errors = "eventflux_bus_handler_errors_total"
    assert _value(registry, errors, group="g", error_type="ConnectionError") == 1
    assert _value(registry, errors, group="g", error_type="KeyError") == 2
    assert _value(registry, errors, group="g", error_type="Reject") == 0  # a decision
    assert _value(registry, "eventflux_bus_handler_duration_seconds_count", group="g") == 7
    assert _value(registry, "eventflux_bus_handler_duration_seconds_sum", group="g") >= 0
    assert _value(registry, "eventflux_bus_in_flight", group="g") == 0
    assert _value(registry, "eventflux_bus_publishes_total") == 5


@pytest.mark.asyncio
async def test_in_flight_counts_running_handlers(registry: CollectorRegistry) -> None:
    gate = asyncio.Event()
    async with await open_bus("memory://") as bus:

        async def wait(msg: Message) -> None:
            await gate.wait()

        bus.subscribe("slow", wait, group="s", concurrency=3)
        await bus.publish_many([("slow", {}) for _ in range(5)])
        await eventually(
            lambda: _value(registry, "eventflux_bus_in_flight", group="s") == 3, what="3 running"
        )
        gate.set()
        await eventually(
            lambda: (
                _value(registry, "eventflux_bus_deliveries_total", group="s", outcome="ack") == 5
            )
        )
    assert _value(registry, "eventflux_bus_in_flight", group="s") == 0
    assert _value(registry, "eventflux_bus_publishes_total") == 5


@pytest.mark.asyncio
async def test_breaker_state_and_deferrals(registry: CollectorRegistry) -> None:
    breaker = CircuitBreaker("gateway", failure_threshold=1, reset_timeout=0.05)
    up = False
    async with await open_bus("memory://") as bus:
        done: list[int] = []

        async def pay(msg: Message) -> None:
            if not up:
                raise ConnectionError("down")
            done.append(1)

        bus.subscribe("pay", pay, group="p", breaker=breaker, backoff=(0.01, 0.01))
        state = "eventflux_breaker_state"
        assert _value(registry, state, breaker="gateway") == 0  # closed, from the start
        await bus.publish_many([("pay", {}) for _ in range(3)])
        await eventually(lambda: _value(registry, state, breaker="gateway") == 2, what="open")
        up = True
        await eventually(lambda: len(done) == 3, 10)
        await eventually(lambda: _value(registry, state, breaker="gateway") == 0, what="closed")
    assert _value(registry, "eventflux_bus_deliveries_total", group="p", outcome="ack") == 3


def test_metrics_stay_off_until_enabled() -> None:
    from eventflux.observability import metrics

    disable_metrics()
    assert metrics.current() is None
    first = enable_metrics(CollectorRegistry())
    assert isinstance(first, Metrics)
    assert enable_metrics() is first  # enabling again keeps the registry
    disable_metrics()
    assert metrics.current() is None
