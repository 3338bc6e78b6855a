"""Contract: redelivery with backoff and jitter, max_deliver, Reject, dead_letter=False,
undecodable messages, deferral by an open circuit."""

from __future__ import annotations

import asyncio
import time

import pytest

from ...bus import Envelope, Message, MessageBus
from ...exceptions import CircuitOpenError
from ...resilience.breaker import CircuitBreaker
from ...signals import Reject
from ._base import FAST, BusContractBase, Recorder, eventually, eventually_letters, quiet


def _always(msg: Message) -> BaseException:
    return ValueError(f"boom {msg.attempt}")


class RetryContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_failures_are_redelivered_after_exponential_backoff_with_jitter(
        self, bus: MessageBus
    ) -> None:
        rec = Recorder(fail=_always)
        bus.subscribe("r", rec, group="g", max_deliver=4, backoff=(0.06, 0.12))
        await bus.publish("r", {})
        await rec.wait(4)
        assert [m.attempt for m in rec.messages] == [1, 2, 3, 4]
        gaps = [b - a for a, b in zip(rec.times, rec.times[1:], strict=False)]
        for gap, nominal in zip(gaps, (0.06, 0.12, 0.12), strict=True):
            assert nominal * 0.5 - 0.005 <= gap <= nominal + 0.15, (gaps, nominal)

    @pytest.mark.asyncio
    async def test_exhausted_messages_go_to_the_dead_letter_queue_with_the_last_error(
        self, bus: MessageBus
    ) -> None:
        rec = Recorder(fail=_always)
        bus.subscribe("orders.created", rec, group="payments", max_deliver=3, backoff=FAST)
        await bus.publish("orders.created", {"id": 9}, msg_id="m-9", key="c-1")
        await eventually(lambda: len(rec.messages) == 3)
        await eventually_letters(bus, 1)
        (letter,) = await bus.dlq.list()
        assert letter.group == "payments"
        assert letter.subject == "orders.created"
        assert letter.data == {"id": 9}
        assert letter.msg_id == "m-9"
        assert letter.key == "c-1"
        assert letter.error == "ValueError: boom 3"
        assert letter.deliveries == 3
        assert letter.dead_at.tzinfo is not None
        await quiet()
        assert len(rec.messages) == 3

    @pytest.mark.asyncio
    async def test_max_deliver_one_means_no_retry(self, bus: MessageBus) -> None:
        rec = Recorder(fail=_always)
        bus.subscribe("once", rec, group="g", max_deliver=1, backoff=FAST)
        await bus.publish("once", {})
        await rec.wait(1)
        await eventually_letters(bus, 1)
        await quiet()
        assert len(rec.messages) == 1
        (letter,) = await bus.dlq.list()
        assert letter.deliveries == 1

    @pytest.mark.asyncio
    async def test_reject_dead_letters_at_once_with_its_reason(self, bus: MessageBus) -> None:
        rec = Recorder(fail=lambda m: Reject("invalid card"))
        bus.subscribe("pay", rec, group="g", max_deliver=5, backoff=FAST)
        await bus.publish("pay", {"card": "x"})
        await eventually_letters(bus, 1)
        (letter,) = await bus.dlq.list()
        assert letter.error == "invalid card"
        assert letter.deliveries == 1
        await quiet()
        assert len(rec.messages) == 1

    @pytest.mark.asyncio
    async def test_dead_letter_false_acks_an_exhausted_message(self, bus: MessageBus) -> None:
        rec = Recorder(fail=_always)
        bus.subscribe("drop", rec, group="g", max_deliver=2, backoff=FAST, dead_letter=False)
        ok = Recorder()
        bus.subscribe("drop", ok, group="other")
        await bus.publish("drop", {})
        await rec.wait(2)
        await quiet(0.15)
        assert len(rec.messages) == 2
        assert await bus.dlq.list() == []

    @pytest.mark.asyncio
    async def test_an_undecodable_message_is_dead_lettered_and_the_group_goes_on(
        self, bus: MessageBus
    ) -> None:
        rec = Recorder()
        bus.subscribe("raw", rec, group="g", concurrency=1)
        await bus.ready()
        bad = Envelope("raw", b"\xff{not json", "bad-1", "k", {}, time.time(), True)
        await bus.backend.publish([bad])  # a foreign producer: no checks
        await bus.publish("raw", {"n": 1}, key="k")
        await bus.publish("raw", {"n": 2})
        await rec.wait(2)
        await eventually_letters(bus, 1)
        (letter,) = await bus.dlq.list()
        assert letter.msg_id == "bad-1"
        assert letter.error.startswith("DeserializationError")
        assert letter.data == b"\xff{not json"
        assert letter.deliveries == 1
        assert sorted(m.data["n"] for m in rec.messages) == [1, 2]

    @pytest.mark.asyncio
    async def test_a_poison_message_never_blocks_its_group(self, bus: MessageBus) -> None:
        rec = Recorder(fail=lambda m: ValueError("poison") if m.data["n"] == 0 else None)
        bus.subscribe("p", rec, group="g", concurrency=1, max_deliver=2, backoff=(0.6, 0.6))
        await bus.publish_many([("p", {"n": i}) for i in range(10)])
        await eventually(lambda: {m.data["n"] for m in rec.messages} >= set(range(1, 10)))
        first_retry = [i for i, m in enumerate(rec.messages) if m.attempt == 2]
        assert not first_retry, "the nine good messages came before the poison's retry"
        await eventually_letters(bus, 1)

    @pytest.mark.asyncio
    async def test_circuit_open_error_defers_without_spending_attempts(
        self, bus: MessageBus
    ) -> None:
        refusals = 3

        def fail(msg: Message) -> BaseException | None:
            nonlocal refusals
            if refusals:
                refusals -= 1
                return CircuitOpenError("downstream", 0.02)
            return None

        rec = Recorder(fail=fail)
        bus.subscribe("cb", rec, group="g", max_deliver=1, backoff=FAST)
        await bus.publish("cb", {})
        await rec.wait(4)
        await quiet()
        assert [m.attempt for m in rec.messages] == [1, 1, 1, 1]
        assert await bus.dlq.list() == []

    @pytest.mark.asyncio
    async def test_a_handler_behind_an_open_breaker_keeps_its_attempts(
        self, bus: MessageBus
    ) -> None:
        breaker = CircuitBreaker("dep", failure_threshold=2, reset_timeout=0.15)
        down = True
        handled: list[Message] = []

        async def call_dependency(msg: Message) -> None:
            await asyncio.sleep(0.01)  # all six are in flight when the circuit opens
            if down:
                raise ConnectionError("dependency down")
            handled.append(msg)

        @breaker.add_listener
        def recover(change: object) -> None:
            nonlocal down
            down = False  # the dependency recovers as soon as the circuit opens

        bus.subscribe("b", call_dependency, group="g", max_deliver=2, backoff=FAST, breaker=breaker)
        await bus.publish_many([("b", {"n": i}) for i in range(6)])
        await eventually(lambda: len(handled) == 6)
        await quiet(0.1)
        assert sorted(m.data["n"] for m in handled) == list(range(6))
        assert await bus.dlq.list() == []
        assert max(m.attempt for m in handled) <= 2
