"""A saga feeder and an outbox relay wait out a bus that cannot save their
checkpoint (a NATS node lost, its stream electing a new leader): neither
stops, and everything is relayed once the bus is back. Before, the first
failed save ended the feeder for good and the sagas stalled until a restart."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.sagas._backends import InMemory, OnSQLite

from eventflux import BusUnavailableError, NewEvent, RecordedEvent, StoreUnavailableError
from eventflux.bus import Message, MessageBus, open_bus
from eventflux.bus.outbox import OutboxRelay
from eventflux.store import open_store
from eventflux.testing.bus_contract import eventually
from eventflux.testing.saga_contract._base import Fulfilment, SagaContractBase

SaveCheckpoint = Callable[[str, int], Awaitable[None]]


def fail_saves(bus: MessageBus, monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make the bus's next ``times`` checkpoint saves fail as unavailable; the
    list returned counts the failures."""
    real: SaveCheckpoint = bus.backend.save_checkpoint
    failures: list[int] = []

    async def save(name: str, position: int) -> None:
        if len(failures) < times:
            failures.append(position)
            raise BusUnavailableError("saving a checkpoint failed: no response from stream")
        await real(name, position)

    monkeypatch.setattr(bus.backend, "save_checkpoint", save)
    return failures


class _Outage(SagaContractBase):
    @pytest.mark.asyncio
    async def test_the_feeder_waits_out_a_failed_checkpoint_save(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="eventflux.app")
        async with self.running(tmp_path, Fulfilment) as run:
            failures = fail_saves(run.bus, monkeypatch, 3)
            await run.place("o-1")
            await run.started(Fulfilment, "o-1")
            await run.place("o-2")
            await run.started(Fulfilment, "o-2")
            await run.settle()
            assert len(failures) == 3
            assert run.commands.of("o-1") == ["Reserve"]
            assert run.commands.of("o-2") == ["Reserve"]
            feeder = run.app.sagas.feeder(Fulfilment)
            assert feeder.tasks
            assert not any(t.done() for t in feeder.tasks)
            assert await feeder.checkpoint.load() == feeder.position > 0
        retried = [r for r in caplog.records if "saving the checkpoint failed" in r.getMessage()]
        assert len(retried) == 3
        assert not [r for r in caplog.records if "saga feeder stopped" in r.getMessage()]

    @pytest.mark.asyncio
    async def test_a_due_deadline_waits_out_a_store_that_cannot_be_read(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1", pay_within=900)
            await run.started(Fulfilment, "o-1")
            await run.settle()
            real = run.store.read_all
            failures: list[int] = []

            def read_all(**kwargs: Any) -> AsyncIterator[RecordedEvent]:
                # the feeder's look for events stored before a due deadline
                if kwargs.get("limit") == 1 and len(failures) < 3:
                    failures.append(kwargs.get("after", 0))
                    raise StoreUnavailableError("the database could not be reached")
                return real(**kwargs)

            monkeypatch.setattr(run.store, "read_all", read_all)
            self.clock.advance(timedelta(seconds=900))
            done = await run.finished(Fulfilment, "o-1")
            assert done.outcome == "cancelled"
            assert len(failures) == 3
            monkeypatch.setattr(run.store, "read_all", real)
            await run.settle()
            assert run.commands.of("o-1") == ["Reserve", "Release"]
            feeder = run.app.sagas.feeder(Fulfilment)
            assert not any(t.done() for t in feeder.tasks)


class TestOutageInMemory(InMemory, _Outage):
    pass


class TestOutageOnSQLite(OnSQLite, _Outage):
    pass


@pytest.mark.asyncio
async def test_an_outbox_relay_waits_out_a_failed_checkpoint_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        await open_store(f"sqlite:///{tmp_path}/events.db") as store,
        await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus,
    ):
        got: list[str] = []

        async def on_event(msg: Message) -> None:
            got.append(msg.msg_id)

        bus.subscribe("events.>", on_event, group="reader")
        failures = fail_saves(bus, monkeypatch, 3)
        relay = OutboxRelay(store, bus, subject=lambda e: f"events.{e.type}", name="r")
        task = relay.start()
        for i in range(5):
            await store.append(f"s-{i}", [NewEvent("Made", {"i": i})])
        await eventually(lambda: relay.published == 5, within=20)
        assert len(failures) == 3
        assert not task.done()
        await eventually(lambda: len(set(got)) == 5, within=20)
        await relay.stop()
        assert await relay.checkpoint.load() == relay.position == await store.last_position()
