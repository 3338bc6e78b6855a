"""The bus's structured log lines: one per publish (DEBUG) and per delivery
outcome (ack DEBUG; retry and deferral INFO; dead letter, reject WARNING),
one per breaker state change, each with the ids of the message."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from eventflux import Reject
from eventflux.bus import Message, open_bus
from eventflux.context import metadata_context
from eventflux.resilience import CircuitBreaker
from eventflux.testing.bus_contract import Recorder, eventually, eventually_letters

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    """The JSON lines the logger ``eventflux.bus`` wrote so far (at DEBUG), parsed."""
    logger = logging.getLogger("eventflux.bus")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(caplog.handler)  # whether or not it propagates to the root
    caplog.handler.setLevel(logging.DEBUG)

    def read() -> list[dict[str, Any]]:
        # one record may reach the capture twice (through the logger and the root)
        unique = {id(r): r for r in caplog.records if r.name == "eventflux.bus"}
        return [
            {**json.loads(r.getMessage()), "levelno": r.levelno}
            for r in unique.values()
            if r.getMessage().startswith("{")
        ]

    try:
        yield read
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)


def _of(lines: Lines, event: str, **match: Any) -> list[dict[str, Any]]:
    return [
        x for x in lines() if x["event"] == event and all(x.get(k) == v for k, v in match.items())
    ]


@pytest.mark.asyncio
async def test_publish_and_delivery_lines_carry_the_ids(lines: Lines) -> None:
    async with await open_bus("memory://") as bus:
        rec = Recorder(fail=lambda m: ValueError("flaky") if m.attempt == 1 else None)
        bus.subscribe("orders.created", rec, group="payments", backoff=(0.01, 0.01))
        with metadata_context(correlation_id="corr-1", causation_id="cmd-1"):
            await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="c-7")
        await rec.wait(2)
        await eventually(lambda: bool(_of(lines, "delivery", outcome="ack")), what="the ack line")

    (publish,) = _of(lines, "publish")
    assert publish["levelno"] == logging.DEBUG
    assert publish["level"] == "debug"
    assert publish["msg_id"] == "order-1"
    assert publish["subject"] == "orders.created"
    assert publish["key"] == "c-7"
    assert (publish["correlation_id"], publish["causation_id"]) == ("corr-1", "cmd-1")
    assert publish["duplicate"] is False
    assert publish["duration_ms"] >= 0

    (retry,) = _of(lines, "delivery", outcome="retry")
    assert retry["levelno"] == logging.INFO
    assert retry["error"] == "ValueError: flaky"
    assert retry["attempt"] == 1
    assert retry["retry_in_ms"] > 0
    (ack,) = _of(lines, "delivery", outcome="ack")
    assert ack["levelno"] == logging.DEBUG
    assert ack["attempt"] == 2
    for line in (retry, ack):
        assert line["msg_id"] == "order-1"
        assert line["subject"] == "orders.created"
        assert line["group"] == "payments"
        assert (line["correlation_id"], line["causation_id"]) == ("corr-1", "cmd-1")
        assert line["duration_ms"] >= 0
        assert line["logger"] == "eventflux.bus"


@pytest.mark.asyncio
async def test_dead_letters_rejects_and_duplicates_are_logged(lines: Lines) -> None:
    async with await open_bus("memory://") as bus:

        async def handle(msg: Message) -> None:
            if msg.data["kind"] == "reject":
                raise Reject("no such customer")
            raise KeyError("gone")

        bus.subscribe("jobs", handle, group="g", max_deliver=1)
        await bus.publish("jobs", {"kind": "reject"}, msg_id="j-1")
        await bus.publish("jobs", {"kind": "fail"}, msg_id="j-2")
        await bus.publish("jobs", {"kind": "fail"}, msg_id="j-2")  # a duplicate
        await eventually_letters(bus, 2)
        await eventually(lambda: len(_of(lines, "delivery")) == 2, what="two outcome lines")

    (reject,) = _of(lines, "delivery", outcome="reject")
    assert reject["levelno"] == logging.WARNING
    assert reject["error"] == "no such customer"
    assert reject["msg_id"] == "j-1"
    assert reject["correlation_id"] == "j-1"  # no correlation header: its own chain
    assert reject["causation_id"] is None
    (dead,) = _of(lines, "delivery", outcome="dead_letter")
    assert dead["levelno"] == logging.WARNING
    assert dead["error"] == "KeyError: 'gone'"
    assert [x["duplicate"] for x in _of(lines, "publish", msg_id="j-2")] == [False, True]


@pytest.mark.asyncio
async def test_breaker_changes_are_logged_with_the_delivery_that_caused_them(lines: Lines) -> None:
    breaker = CircuitBreaker("gateway", failure_threshold=1, reset_timeout=0.05)
    up = False
    async with await open_bus("memory://") as bus:
        done: list[int] = []

        async def pay(msg: Message) -> None:
            if not up:
                raise ConnectionError("down")
            done.append(msg.attempt)

        bus.subscribe("pay", pay, group="gateway", breaker=breaker, backoff=(0.01, 0.01))
        with metadata_context(correlation_id="corr-9"):
            await bus.publish("pay", {}, msg_id="p-1")
        await eventually(lambda: bool(_of(lines, "breaker", new="open")), what="opening")
        up = True
        await eventually(lambda: bool(done))
        await eventually(lambda: bool(_of(lines, "breaker", new="closed")), what="closing")

    opened = _of(lines, "breaker", new="open")[0]
    assert opened["levelno"] == logging.WARNING
    assert opened["breaker"] == "gateway"
    assert opened["old"] == "closed"
    assert opened["msg_id"] == "p-1"
    assert opened["group"] == "gateway"
    assert opened["correlation_id"] == "corr-9"
    assert opened["duration_ms"] >= 0
    assert "ConnectionError" in opened["reason"]
    closed = _of(lines, "breaker", new="closed")[0]
    assert closed["levelno"] == logging.INFO
    assert _of(lines, "delivery", outcome="deferred") or _of(lines, "delivery", outcome="retry")


@pytest.mark.asyncio
async def test_nothing_is_logged_for_acks_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("eventflux.bus")
    logger.addHandler(caplog.handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        async with await open_bus("memory://") as bus:
            rec = Recorder()
            bus.subscribe("quiet", rec, group="g")
            await bus.publish("quiet", {})
            await rec.wait(1)
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
    assert [r for r in caplog.records if r.name == "eventflux.bus"] == []
