"""Contract: handlers that hang (``handler_timeout``, ``close(timeout=...)``) and
handlers that raise a ``BaseException`` that is not an ``Exception``."""

from __future__ import annotations

import asyncio

import pytest

from ...bus import Message, MessageBus
from ._base import FAST, BusContractBase, Recorder, eventually, eventually_letters, quiet


class Halt(BaseException):
    """A non-``Exception`` error a handler may raise."""


class HangingHandlerContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_a_handler_past_handler_timeout_is_cancelled_and_its_delivery_fails(
        self, bus: MessageBus
    ) -> None:
        cancelled: list[int] = []
        done: list[int] = []

        async def hang_once(msg: Message) -> None:
            if msg.attempt == 1:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    cancelled.append(msg.attempt)
                    raise
            done.append(msg.attempt)

        bus.subscribe("hang", hang_once, group="g", handler_timeout=0.3, backoff=FAST)
        await bus.publish("hang", {"n": 1})
        await eventually(lambda: done == [2], 10, "the retry after the timeout")
        assert cancelled == [1]
        await quiet()
        assert await bus.dlq.list() == []

    @pytest.mark.asyncio
    async def test_a_timed_out_handler_is_dead_lettered_as_handler_timeout_error(
        self, bus: MessageBus
    ) -> None:
        async def hang(msg: Message) -> None:
            await asyncio.sleep(3600)

        bus.subscribe("hang", hang, group="g", handler_timeout=0.2, max_deliver=2, backoff=FAST)
        await bus.publish("hang", {"n": 1}, msg_id="h-1")
        await eventually_letters(bus, 1, within=10)
        (letter,) = await bus.dlq.list()
        assert letter.error.startswith("HandlerTimeoutError: ")
        assert "handler_timeout=0.2s" in letter.error
        assert letter.deliveries == 2
        assert letter.msg_id == "h-1"

    @pytest.mark.asyncio
    async def test_close_past_its_timeout_cancels_the_handlers_still_running(
        self, bus: MessageBus
    ) -> None:
        started = asyncio.Event()
        cancelled: list[str] = []

        async def hang(msg: Message) -> None:
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(msg.msg_id)
                raise

        bus.subscribe("hang", hang, group="g", handler_timeout=None)
        await bus.publish("hang", {"n": 1}, msg_id="h-1")
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(bus.close(timeout=0.2), 30)  # never waits for the handler
        assert bus.closed
        assert cancelled == ["h-1"]

    @pytest.mark.asyncio
    async def test_close_lets_a_handler_finish_within_its_timeout(self, bus: MessageBus) -> None:
        started, finished = asyncio.Event(), []

        async def slow(msg: Message) -> None:
            started.set()
            await asyncio.sleep(0.2)
            finished.append(msg.data["n"])

        bus.subscribe("slow", slow, group="g")
        await bus.publish("slow", {"n": 1})
        await asyncio.wait_for(started.wait(), 10)
        await bus.close(timeout=30)
        assert finished == [1]

    @pytest.mark.asyncio
    async def test_a_base_exception_from_a_handler_is_a_failed_delivery_with_its_real_type(
        self, bus: MessageBus
    ) -> None:
        def fail(msg: Message) -> BaseException:
            if msg.data["kind"] == "cancel":
                return asyncio.CancelledError("the handler's own")
            return Halt("halted")

        rec = Recorder(fail=fail)
        bus.subscribe("base", rec, group="g", max_deliver=2, backoff=FAST, ack_wait=30.0)
        await bus.publish("base", {"kind": "cancel"}, msg_id="b-cancel")
        await bus.publish("base", {"kind": "halt"}, msg_id="b-halt")
        await eventually_letters(bus, 2, within=10)  # long before ack_wait
        letters = {x.msg_id: x for x in await bus.dlq.list()}
        assert letters["b-cancel"].error == "CancelledError: the handler's own"
        assert letters["b-halt"].error == "Halt: halted"
        assert {x.deliveries for x in letters.values()} == {2}
        assert sorted(m.attempt for m in rec.messages) == [1, 1, 2, 2]
        # the member goes on: a later message is handled
        ok = Recorder()
        bus.subscribe("after", ok, group="g2")
        await bus.publish("after", {"n": 1})
        await ok.wait(1)
