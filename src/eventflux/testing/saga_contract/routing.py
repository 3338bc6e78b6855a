"""Starting and routing: which input reaches which instance (DESIGN 3.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ...events import NewEvent
from ...sagas import SagaView
from ._base import Fulfilment, Renamed, Requests, SagaContractBase, Shipped


class RoutingContract(SagaContractBase):
    @pytest.mark.asyncio
    async def test_a_starting_event_creates_the_instance_for_its_key(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            assert await run.view(Fulfilment, "o-1") is None
            await run.place("o-1")
            view = await run.started(Fulfilment, "o-1")
            assert isinstance(view, SagaView)
            assert view.key == "o-1"
            assert view.state == {"steps": ["placed"], "placed": 1}
            assert view.finished is False
            assert view.outcome is None
            assert dict(view.deadlines) == {}
            await run.settle()
            assert run.commands.of("o-1") == ["Reserve"]

    @pytest.mark.asyncio
    async def test_a_second_starting_event_goes_to_the_existing_instance(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.place("o-1")
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert view.state["placed"] == 2
            assert view.version == 2
            assert await run.app.sagas.instances(Fulfilment) == [view]

    @pytest.mark.asyncio
    async def test_a_handled_event_without_an_instance_is_ignored(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.append("PaymentCharged", "o-9")
            await run.place("o-1")
            await run.settle()
            assert await run.view(Fulfilment, "o-9") is None
            assert [v.key for v in await run.app.sagas.instances(Fulfilment)] == ["o-1"]
            assert await run.store.streams("saga-Fulfilment-o-9") == []
            assert run.commands.of("o-9") == []

    @pytest.mark.asyncio
    async def test_events_go_to_the_instance_their_key_names(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            for key in ("a", "b", "c"):
                await run.place(key)
            await run.append("PaymentCharged", "b")
            b = await run.finished(Fulfilment, "b")
            await run.settle()
            assert b.outcome == "completed"
            assert b.state["steps"] == ["placed", "paid"]
            for key in ("a", "c"):
                view = await run.view(Fulfilment, key)
                assert view is not None
                assert view.state["steps"] == ["placed"]
                assert not view.finished

    @pytest.mark.asyncio
    async def test_bus_messages_start_and_continue_instances(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Requests) as run:
            await run.bus.publish("orders.confirmed", {"order_id": "m-0"})  # no instance: ignored
            await run.bus.publish("orders.requested", {"order_id": "m-1"})
            await run.started(Requests, "m-1")
            await run.bus.publish("orders.requested", {"order_id": "m-1"})
            await run.settle()
            view = await run.view(Requests, "m-1")
            assert view is not None
            assert view.state == {"requests": 2}
            await run.bus.publish("orders.confirmed", {"order_id": "m-1"})
            done = await run.finished(Requests, "m-1")
            assert done.outcome == "confirmed"
            assert await run.view(Requests, "m-0") is None
            assert run.commands.of("m-1") == ["Reserve", "Reserve"]

    @pytest.mark.asyncio
    async def test_a_saga_mixes_store_events_and_bus_messages(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.started(Fulfilment, "o-1")
            await run.bus.publish("orders.note", {"order_id": "o-1", "text": "gift"})
            await run.bus.publish("orders.note", {"order_id": "nobody", "text": "x"})
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert view.state["steps"] == ["placed", "note:gift"]
            assert await run.view(Fulfilment, "nobody") is None

    @pytest.mark.asyncio
    async def test_a_saga_is_known_by_its_name_attribute(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Renamed) as run:
            await run.place("o-1")
            view = await run.started("LegacyFulfilment", "o-1")
            assert view.saga == "LegacyFulfilment"
            assert await run.view(Renamed, "o-1") == view
            assert await run.store.streams("saga-LegacyFulfilment-") == [
                "saga-LegacyFulfilment-o-1"
            ]

    @pytest.mark.asyncio
    async def test_state_is_persisted_after_each_reaction(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("PaymentCharged", "o-1", finish=False)
            await run.settle()
            history = await run.app.sagas.history(Fulfilment, "o-1")
            assert [s.state["steps"] for s in history] == [["placed"], ["placed", "paid"]]
            assert [s.input_name for s in history] == ["OrderPlaced", "PaymentCharged"]
            assert [s.handler for s in history] == ["placed", "paid"]
            assert history[0].sent == ("Reserve",)
            assert history[1].sent == ("Ship",)
            assert history[1].published == ("orders.paid",)

    @pytest.mark.asyncio
    async def test_a_registered_event_class_routes_and_reaches_the_handler_decoded(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.started(Fulfilment, "o-1")
            await run.store.append(
                "shipment-o-1", [NewEvent("SagaContractShipped", Shipped("o-1", "dhl"))]
            )
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert view.state["steps"] == ["placed", "shipped:Shipped:dhl"]
