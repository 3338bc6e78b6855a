"""Reactions: one unit each, retried when they raise, never repeated, and
compensated in reverse order (DESIGN 3.6)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ...bus import Message
from ...sagas import SagaNotFoundError, saga_subject
from ._base import Flaky, Fulfilment, MessageLog, Requests, SagaContractBase, eventually


class ReactionContract(SagaContractBase):
    @pytest.mark.asyncio
    async def test_a_reaction_that_raises_commits_nothing_and_is_retried(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Flaky) as run:
            await run.append("FlakyStarted", "f-1", fail=2)
            view = await run.started(Flaky, "f-1")
            await run.settle()
            assert view.version == 1  # two failed attempts wrote nothing
            assert view.state == {"touched": True}
            assert list(view.deadlines) == ["later"]
            assert run.commands.of("f-1") == ["Reserve"]  # sent once, after the commit
            assert run.published.subjects("f-1") == ["orders.flaky"]
            assert await run.bus.dlq.list() == []

    @pytest.mark.asyncio
    async def test_a_reaction_that_keeps_raising_is_dead_lettered(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Flaky) as run:
            await run.append("FlakyStarted", "f-1", fail=99)
            await run.append("FlakyStarted", "f-2")

            async def letters() -> list[object]:
                return list(await run.bus.dlq.list(group="saga-Flaky"))

            (letter,) = await eventually(letters, what="a dead letter")
            await run.settle()
            assert letter.deliveries == Flaky.max_deliver  # type: ignore[attr-defined]
            assert "RuntimeError: the reaction failed on purpose" in letter.error  # type: ignore[attr-defined]
            assert await run.view(Flaky, "f-1") is None
            assert run.commands.of("f-1") == []
            assert run.published.subjects("f-1") == []
            assert (await run.view(Flaky, "f-2")) is not None  # others go on

    @pytest.mark.asyncio
    async def test_a_key_function_that_fails_dead_letters_its_input(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Flaky) as run:
            await run.append("BadKey", "x")
            await run.append("FlakyStarted", "f-1")

            async def letters() -> list[object]:
                return list(await run.bus.dlq.list(group="saga-Flaky"))

            (letter,) = await eventually(letters, what="a dead letter")
            assert "key function" in letter.error  # type: ignore[attr-defined]
            assert await run.started(Flaky, "f-1")

    @pytest.mark.asyncio
    async def test_sending_a_command_without_a_handler_fails_the_reaction(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Flaky) as run:
            await run.append("Unsendable", "u-1")

            async def letters() -> list[object]:
                return list(await run.bus.dlq.list(group="saga-Flaky"))

            (letter,) = await eventually(letters, what="a dead letter")
            assert "NoHandlerError" in letter.error  # type: ignore[attr-defined]
            assert await run.view(Flaky, "u-1") is None

    @pytest.mark.asyncio
    async def test_an_input_handled_twice_changes_nothing_the_second_time(
        self, tmp_path: Path
    ) -> None:
        spy = MessageLog()
        async with self.running(tmp_path, Fulfilment) as run:
            run.bus.subscribe(saga_subject("Fulfilment"), spy, group="saga-inputs-spy")
            run.bus.subscribe("orders.note", spy, group="saga-notes-spy")
            await run.bus.ready()
            await run.place("o-1")
            await run.started(Fulfilment, "o-1")
            await run.bus.publish("orders.note", {"order_id": "o-1", "text": "hi"})
            await run.settle()
            await eventually(lambda: _at_least(spy.messages, 2), what="the spied inputs")
            before = await run.view(Fulfilment, "o-1")
            commands = list(run.commands.calls)
            reactor = run.app.sagas.reactor(Fulfilment)
            for msg in list(spy.messages):  # the same deliveries again
                await reactor.deliver(msg)
            await run.settle()
            assert await run.view(Fulfilment, "o-1") == before
            assert run.commands.calls == commands
            assert before is not None
            assert before.state["steps"] == ["placed", "note:hi"]
            assert len(await run.app.sagas.history(Fulfilment, "o-1")) == 2

    @pytest.mark.asyncio
    async def test_commands_carry_ids_derived_from_the_saga_key_and_step(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            placed = await run.place("o-1")
            await run.place("o-2")
            await run.append("PaymentCharged", "o-1")
            await run.finished(Fulfilment, "o-1")
            await run.settle()
        ids = run.commands.ids()
        assert len(ids) == len(set(ids)) == 3
        for cid in ids:
            assert uuid.UUID(cid).version == 5
        # the correlation of the event that caused the reaction flows to its commands
        i = next(i for i, c in enumerate(run.commands.calls) if c[:2] == ("Reserve", "o-1"))
        meta = run.commands.metadata[i]
        assert meta["correlation_id"] == placed.correlation_id
        assert meta["causation_id"] == ids[i]

    @pytest.mark.asyncio
    async def test_a_finished_instance_ignores_later_events(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("PaymentCharged", "o-1")
            done = await run.finished(Fulfilment, "o-1")
            await run.place("o-1")
            await run.append("PaymentDeclined", "o-1")
            await run.bus.publish("orders.note", {"order_id": "o-1", "text": "late"})
            await run.settle()
            assert await run.view(Fulfilment, "o-1") == done
            assert run.commands.of("o-1") == ["Reserve", "Ship"]

    @pytest.mark.asyncio
    async def test_compensations_run_newest_first_when_the_saga_gives_up(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("PaymentDeclined", "o-1")
            view = await run.finished(Fulfilment, "o-1")
            await run.settle()
            assert view.outcome == "declined"
            assert view.compensations == 0
            assert run.commands.of("o-1") == ["Reserve", "Release"]
            assert run.published.subjects("o-1") == ["orders.compensated"]

    @pytest.mark.asyncio
    async def test_cancelling_an_instance_from_outside_runs_its_compensations(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1", pay_within=600)
            await run.started(Fulfilment, "o-1")
            view = await run.app.sagas.cancel(Fulfilment, "o-1", reason="customer", wait=20.0)
            await run.settle()
            assert view.finished
            assert view.outcome == "cancelled"
            assert dict(view.deadlines) == {}
            assert view.state["steps"] == ["placed", "cancel:customer"]
            assert run.commands.of("o-1") == ["Reserve", "Release"]
            assert run.published.subjects("o-1") == ["orders.compensated"]
            again = await run.app.sagas.cancel(Fulfilment, "o-1", wait=1.0)
            assert again == view  # a finished instance stays as it is
            with pytest.raises(SagaNotFoundError):
                await run.app.sagas.cancel(Fulfilment, "nobody")

    @pytest.mark.asyncio
    async def test_listing_instances_by_saga_and_state(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment, Requests) as run:
            for key in ("a", "b", "c"):
                await run.place(key)
            await run.bus.publish("orders.requested", {"order_id": "r"})
            await run.append("PaymentCharged", "b")
            await run.append("PaymentDeclined", "c")
            await run.finished(Fulfilment, "c")
            await run.started(Requests, "r")
            await run.settle()
            sagas = run.app.sagas
            assert [v.key for v in await sagas.instances(Fulfilment)] == ["a", "b", "c"]
            assert [v.key for v in await sagas.instances(Fulfilment, state="open")] == ["a"]
            assert [v.key for v in await sagas.instances(state="finished")] == ["b", "c"]
            assert [v.key for v in await sagas.instances(state="declined")] == ["c"]
            assert [(v.saga, v.key) for v in await sagas.instances(state="open")] == [
                ("Fulfilment", "a"),
                ("Requests", "r"),
            ]
            assert len(await sagas.instances(limit=2)) == 2
            assert await sagas.admin.names() == ["Fulfilment", "Requests"]


async def _at_least(items: list[Message], n: int) -> bool:
    return len(items) >= n
