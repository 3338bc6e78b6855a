"""Contract: the dead-letter queue (list, retry, purge)."""

from __future__ import annotations

import pytest

from ...bus import Message, MessageBus
from ...exceptions import BusError, DeadLetterNotFoundError
from ...signals import Reject
from ._base import (
    FAST,
    BusContractBase,
    Recorder,
    eventually,
    eventually_letters,
    eventually_letters_gone,
    quiet,
)


def _reject(msg: Message) -> BaseException:
    return Reject(f"no {msg.data['n']}")


class DeadLetterContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_list_filters_by_group_and_subject(self, bus: MessageBus) -> None:
        bus.subscribe("orders.*", Recorder(fail=_reject), group="a")
        bus.subscribe("orders.*", Recorder(fail=_reject), group="b")
        await bus.publish("orders.created", {"n": 1})
        await bus.publish("orders.paid", {"n": 2})
        await eventually_letters(bus, 4)
        assert len(await bus.dlq.list(group="a")) == 2
        assert [x.data for x in await bus.dlq.list(group="b", subject="orders.paid")] == [{"n": 2}]
        assert len(await bus.dlq.list(subject="orders.*")) == 4
        assert len(await bus.dlq.list(subject="users.>")) == 0
        assert len(await bus.dlq.list(limit=3)) == 3
        assert await bus.dlq.list(group="nobody") == []

    @pytest.mark.asyncio
    async def test_a_retried_letter_goes_back_to_its_group_only_and_leaves_once_handled(
        self, bus: MessageBus
    ) -> None:
        broken = True
        a = Recorder(fail=lambda m: ValueError("down") if broken else None)
        b = Recorder()
        bus.subscribe("orders.created", a, group="a", max_deliver=2, backoff=FAST)
        bus.subscribe("orders.created", b, group="b")
        await bus.publish("orders.created", {"n": 1}, msg_id="o-1", key="k")
        await eventually_letters(bus, 1)
        (letter,) = await bus.dlq.list()
        assert (letter.group, letter.deliveries) == ("a", 2)
        broken = False
        await bus.dlq.retry(letter.id)
        await a.wait(3)
        await eventually_letters_gone(bus)
        await quiet()
        assert [m.attempt for m in a.messages] == [1, 2, 1]
        retried = a.messages[-1]
        assert (retried.subject, retried.msg_id, retried.key, retried.data) == (
            "orders.created",
            "o-1",
            "k",
            {"n": 1},
        )
        assert len(b.messages) == 1

    @pytest.mark.asyncio
    async def test_a_retried_letter_gets_a_fresh_budget_and_keeps_its_id(
        self, bus: MessageBus
    ) -> None:
        rec = Recorder(fail=lambda m: ValueError(f"try {m.attempt}"))
        bus.subscribe("x", rec, group="g", max_deliver=2, backoff=FAST)
        await bus.publish("x", {"n": 1})
        await eventually_letters(bus, 1)
        (first,) = await bus.dlq.list()
        await bus.dlq.retry(first.id)
        await eventually(lambda: len(rec.messages) == 4)
        await quiet(0.1)
        (again,) = await bus.dlq.list()
        assert again.id == first.id
        assert again.deliveries == 2
        assert again.error == "ValueError: try 2"
        assert again.dead_at >= first.dead_at
        assert [m.attempt for m in rec.messages] == [1, 2, 1, 2]

    @pytest.mark.asyncio
    async def test_retry_of_an_unknown_letter_raises(self, bus: MessageBus) -> None:
        with pytest.raises(DeadLetterNotFoundError) as info:
            await bus.dlq.retry("no-such-letter")
        assert isinstance(info.value, LookupError)
        assert isinstance(info.value, BusError)

    @pytest.mark.asyncio
    async def test_purge_by_group_and_all(self, bus: MessageBus) -> None:
        bus.subscribe("p", Recorder(fail=_reject), group="a")
        bus.subscribe("p", Recorder(fail=_reject), group="b")
        for n in range(3):
            await bus.publish("p", {"n": n})
        await eventually_letters(bus, 6)
        assert await bus.dlq.purge(group="a") == 3
        assert {x.group for x in await bus.dlq.list()} == {"b"}
        assert await bus.dlq.purge() == 3
        assert await bus.dlq.list() == []
        assert await bus.dlq.purge() == 0

    @pytest.mark.asyncio
    async def test_retry_all_of_a_group(self, bus: MessageBus) -> None:
        broken = True
        rec = Recorder(fail=lambda m: Reject("later") if broken else None)
        bus.subscribe("r", rec, group="g")
        for n in range(4):
            await bus.publish("r", {"n": n})
        await eventually_letters(bus, 4)
        broken = False
        assert await bus.dlq.retry_all(group="g") == 4
        await eventually_letters_gone(bus)
        assert sorted(m.data["n"] for m in rec.messages[4:]) == [0, 1, 2, 3]
