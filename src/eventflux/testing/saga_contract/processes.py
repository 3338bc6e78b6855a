"""Several processes, one saga: one instance per key, and a new process
resumes the instances of the last (DESIGN 3.6)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from ._base import Fulfilment, Requests, SagaContractBase, eventually


class ProcessContract(SagaContractBase):
    @pytest.mark.asyncio
    async def test_one_instance_per_key_when_two_processes_race(self, tmp_path: Path) -> None:
        async with (
            self.running(tmp_path, Requests, name="shop") as one,
            self.running(tmp_path, Requests, name="shop2", reopen=True) as two,
        ):
            await asyncio.gather(
                *(
                    (one if i % 2 else two).bus.publish("orders.requested", {"order_id": "r-1"})
                    for i in range(12)
                )
            )

            async def twelve() -> bool:
                view = await one.view(Requests, "r-1")
                return view is not None and view.state["requests"] == 12

            await eventually(twelve, what="twelve requests on one instance")
            await one.settle()
            await two.settle()
            history = await one.app.sagas.history(Requests, "r-1")
            assert [s.version for s in history] == list(range(1, 13))
            assert [s.type for s in history].count("SagaStarted") == 1
            assert [v.key for v in await two.app.sagas.instances(Requests)] == ["r-1"]
        assert self.commands.of("r-1") == ["Reserve"] * 12
        assert len(set(self.commands.ids())) == 12

    @pytest.mark.asyncio
    async def test_a_new_process_with_the_same_class_resumes_its_instances(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.place("o-2")
            await run.settle()
        async with self.running(tmp_path, Fulfilment, name="shop-restarted") as later:
            await later.append("PaymentCharged", "o-1")
            await later.append("PaymentDeclined", "o-2")
            one = await later.finished(Fulfilment, "o-1")
            two = await later.finished(Fulfilment, "o-2")
            await later.settle()
        assert (one.outcome, two.outcome) == ("completed", "declined")
        assert one.state["steps"] == ["placed", "paid"]
        assert self.commands.of("o-1") == ["Reserve", "Ship"]
        assert self.commands.of("o-2") == ["Reserve", "Release"]

    @pytest.mark.asyncio
    async def test_two_processes_share_the_instances_work(self, tmp_path: Path) -> None:
        async with (
            self.running(tmp_path, Fulfilment, name="shop") as one,
            self.running(tmp_path, Fulfilment, name="shop2", reopen=True) as two,
        ):
            for i in range(30):
                await (one if i % 2 else two).place(f"o-{i}")
            for i in range(30):
                await one.append("PaymentCharged", f"o-{i}")
            for i in range(30):
                await one.finished(Fulfilment, f"o-{i}")
            await one.settle()
            await two.settle()
        reserves = sorted(oid for name, oid, _ in self.commands.calls if name == "Reserve")
        assert reserves == sorted(f"o-{i}" for i in range(30))
        assert len(self.commands.calls) == 60

    @pytest.mark.asyncio
    async def test_a_process_whose_memory_of_an_instance_is_stale_reacts_right(
        self, tmp_path: Path
    ) -> None:
        async with (
            self.running(tmp_path, Fulfilment, name="shop") as one,
            self.running(tmp_path, Fulfilment, name="shop2", reopen=True) as two,
        ):
            start = self.clock.now()
            await one.place("o-1")
            for i in range(6):  # inputs land in either process, each remembering the instance
                await (one if i % 2 else two).append("RemindAt", "o-1", **{"in": 60 + i})
                await one.settle()
                await two.settle()
            await one.app.sagas.reschedule(Fulfilment, "o-1", "remind", 300)
            self.clock.advance(200)
            await one.settle()
            await two.settle()
            assert "remind" not in (await one.started(Fulfilment, "o-1")).state["steps"]
            self.clock.advance(100)
            await one.settle()
            await two.settle()
            await two.append("PaymentCharged", "o-1")
            done = await two.finished(Fulfilment, "o-1")
            await one.settle()
            await two.settle()
            history = await one.app.sagas.history(Fulfilment, "o-1")
        assert done.state["steps"] == ["placed", *["remind-set"] * 6, "remind", "paid"]
        assert done.state["reminded_at"] == (start + timedelta(seconds=300)).isoformat()
        assert [s.input_kind for s in history].count("admin") == 1
        assert len(history) == 10
        assert self.commands.of("o-1") == ["Reserve", "Ship"]
