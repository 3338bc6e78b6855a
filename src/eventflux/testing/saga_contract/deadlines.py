"""Deadlines: fire once, never early, never when cancelled or finished, also
after a stop, in time order with missed events (DESIGN 3.6). The clock is a
:class:`~eventflux.sagas.ManualClock`: nothing here sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ...events import NewEvent
from ...sagas import DeadlineNotFoundError, ManualClock, SagaNotFoundError
from ...store import EventStore
from ._base import Fulfilment, Run, SagaContractBase, eventually

_TINY = timedelta(microseconds=1)


class DeadlineContract(SagaContractBase):
    @pytest.mark.asyncio
    async def test_a_deadline_fires_once_and_never_before_its_time(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            start = self.clock.now()
            await run.place("o-1", pay_within=900)
            view = await run.started(Fulfilment, "o-1")
            due = start + timedelta(seconds=900)
            assert dict(view.deadlines) == {"pay": due}
            assert view.deadlines["pay"].tzinfo is not None
            self.clock.set(due - _TINY)
            await run.settle()
            still = await run.view(Fulfilment, "o-1")
            assert still is not None
            assert not still.finished
            self.clock.set(due)
            done = await run.finished(Fulfilment, "o-1")
            self.clock.advance(timedelta(days=1))
            await run.settle()
            assert done.outcome == "cancelled"
            assert done.state["steps"] == ["placed", "pay-timeout"]
            assert dict(done.deadlines) == {}
            assert await run.view(Fulfilment, "o-1") == done
            assert run.commands.of("o-1") == ["Reserve", "Release"]

    @pytest.mark.asyncio
    async def test_a_relative_deadline_counts_from_the_reaction(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.started(Fulfilment, "o-1")
            moved = self.clock.advance(timedelta(hours=3))
            await run.append("RemindAt", "o-1", **{"in": 60})
            await run.append("RemindAt", "o-2", **{"in": 60})  # no instance: ignored
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert dict(view.deadlines) == {"remind": moved + timedelta(seconds=60)}

    @pytest.mark.asyncio
    async def test_when_is_seconds_a_timedelta_or_an_aware_datetime(self, tmp_path: Path) -> None:
        now = self.clock.now()
        at = now.astimezone(timezone(timedelta(hours=-5))) + timedelta(minutes=7)  # aware, not UTC
        cases: dict[str, tuple[dict[str, object], datetime]] = {
            "secs": ({"in": 90}, now + timedelta(seconds=90)),
            "float": ({"in": 0.25}, now + timedelta(seconds=0.25)),
            "delta": ({"in": 30, "as": "timedelta"}, now + timedelta(seconds=30)),
            "at": ({"at": at.isoformat()}, at),
        }
        async with self.running(tmp_path, Fulfilment) as run:
            for key, (data, _) in cases.items():
                await run.place(key)
                await run.append("RemindAt", key, **data)
            await run.place("naive")
            await run.append("RemindAt", "naive", at=datetime(2030, 1, 1).isoformat())

            async def letters() -> list[object]:
                return list(await run.bus.dlq.list(group="saga-Fulfilment"))

            (letter,) = await eventually(letters, what="the naive datetime's dead letter")
            assert "TypeError" in letter.error  # type: ignore[attr-defined]
            await run.settle()
            for key, (_, due) in cases.items():
                view = await run.view(Fulfilment, key)
                assert view is not None
                assert view.deadlines["remind"] == due
                assert view.deadlines["remind"].utcoffset() == timedelta(0)
            naive = await run.view(Fulfilment, "naive")
            assert naive is not None
            assert dict(naive.deadlines) == {}

    @pytest.mark.asyncio
    async def test_setting_a_deadline_again_reschedules_it(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            start = self.clock.now()
            await run.place("o-1")
            await run.append("RemindAt", "o-1", **{"in": 60})
            await run.append("RemindAt", "o-1", **{"in": 120})
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert dict(view.deadlines) == {"remind": start + timedelta(seconds=120)}
            self.clock.advance(90)
            await run.settle()
            assert "remind" not in (await _steps(run, "o-1"))
            self.clock.advance(30)
            await run.settle()
            self.clock.advance(3600)
            await run.settle()
            assert (await _steps(run, "o-1")).count("remind") == 1
            reminded = await run.view(Fulfilment, "o-1")
            assert reminded is not None
            assert reminded.state["reminded_at"] == (start + timedelta(seconds=120)).isoformat()
            assert dict(reminded.deadlines) == {}

    @pytest.mark.asyncio
    async def test_a_cancelled_deadline_never_fires(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("RemindAt", "o-1", **{"in": 60})
            await run.append("RemindCancelled", "o-1")
            await run.append("RemindCancelled", "o-1")
            self.clock.advance(timedelta(days=2))
            await run.settle()
            view = await run.view(Fulfilment, "o-1")
            assert view is not None
            assert "remind" not in view.state["steps"]
            assert view.state["had_remind"] is False  # the second cancel found none
            assert dict(view.deadlines) == {}

    @pytest.mark.asyncio
    async def test_the_deadlines_of_a_finished_instance_never_fire(self, tmp_path: Path) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1", pay_within=60)
            await run.append("RemindAt", "o-1", **{"in": 30})
            await run.settle()
            await run.append("PaymentCharged", "o-1")
            done = await run.finished(Fulfilment, "o-1")
            assert dict(done.deadlines) == {}
            self.clock.advance(timedelta(days=1))
            await run.settle()
            assert await run.view(Fulfilment, "o-1") == done
            assert done.state["steps"] == ["placed", "remind-set", "paid"]
            assert run.commands.of("o-1") == ["Reserve", "Ship"]

    @pytest.mark.asyncio
    async def test_a_deadline_that_fell_due_while_nothing_ran_fires_on_the_next_start(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1", pay_within=60)
            await run.started(Fulfilment, "o-1")
            await run.settle()
        self.clock.advance(timedelta(hours=5))
        async with self.running(tmp_path, Fulfilment) as later:
            done = await later.finished(Fulfilment, "o-1")
            self.clock.advance(timedelta(hours=5))
            await later.settle()
            assert done.state["steps"] == ["placed", "pay-timeout"]
            assert await later.view(Fulfilment, "o-1") == done
        assert self.commands.of("o-1") == ["Reserve", "Release"]

    @pytest.mark.asyncio
    async def test_on_start_an_event_recorded_before_a_due_deadline_goes_first(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("RemindAt", "o-1", **{"in": 600})
            await run.settle()
            store = run.store
        # while nothing runs: an event is recorded (before the deadline is due),
        # then the deadline falls due
        await _append_while_stopped(store, "PaymentCharged", "o-1", finish=False)
        self.clock.advance(timedelta(hours=1))
        async with self.running(tmp_path, Fulfilment) as later:
            await later.settle()
            assert await _steps(later, "o-1") == ["placed", "remind-set", "paid", "remind"]

    @pytest.mark.asyncio
    async def test_on_start_a_deadline_due_before_an_event_goes_first(self, tmp_path: Path) -> None:
        self.clock = ManualClock(datetime.now(UTC) - timedelta(hours=2))
        async with self.running(tmp_path, Fulfilment) as run:
            await run.place("o-1")
            await run.append("RemindAt", "o-1", **{"in": 600})  # due an hour and 50 minutes ago
            await run.settle()
            store = run.store
        await _append_while_stopped(store, "PaymentCharged", "o-1", finish=False)
        self.clock.set(datetime.now(UTC) + timedelta(minutes=1))
        async with self.running(tmp_path, Fulfilment) as later:
            await later.settle()
            assert await _steps(later, "o-1") == ["placed", "remind-set", "remind", "paid"]

    @pytest.mark.asyncio
    async def test_pending_deadlines_are_listed_cancelled_and_rescheduled_from_code(
        self, tmp_path: Path
    ) -> None:
        async with self.running(tmp_path, Fulfilment) as run:
            start = self.clock.now()
            await run.place("a", pay_within=300)
            await run.place("b", pay_within=100)
            await run.place("c", pay_within=200)
            await run.append("RemindAt", "c", **{"in": 50})
            await run.settle()
            sagas = run.app.sagas
            listed = [(d.key, d.name, d.due) for d in await sagas.deadlines(Fulfilment)]
            assert listed == [
                ("c", "remind", start + timedelta(seconds=50)),
                ("b", "pay", start + timedelta(seconds=100)),
                ("c", "pay", start + timedelta(seconds=200)),
                ("a", "pay", start + timedelta(seconds=300)),
            ]
            assert [d.name for d in await sagas.deadlines(Fulfilment, key="c")] == [
                "remind",
                "pay",
            ]
            cancelled = await sagas.cancel_deadline(Fulfilment, "b", "pay")
            assert dict(cancelled.deadlines) == {}
            moved = await sagas.reschedule(Fulfilment, "a", "pay", timedelta(seconds=1000))
            assert dict(moved.deadlines) == {"pay": start + timedelta(seconds=1000)}
            with pytest.raises(DeadlineNotFoundError):
                await sagas.cancel_deadline(Fulfilment, "b", "pay")
            with pytest.raises(DeadlineNotFoundError):
                await sagas.reschedule(Fulfilment, "a", "nope", 5)
            with pytest.raises(SagaNotFoundError):
                await sagas.reschedule(Fulfilment, "zzz", "pay", 5)
            self.clock.advance(400)
            await run.settle()
            assert [v.key for v in await sagas.instances(Fulfilment, state="cancelled")] == ["c"]
            a = await run.view(Fulfilment, "a")
            b = await run.view(Fulfilment, "b")
            assert a is not None
            assert not a.finished
            assert b is not None
            assert not b.finished
            self.clock.advance(600)
            await run.settle()
            assert [v.key for v in await sagas.instances(Fulfilment, state="cancelled")] == [
                "a",
                "c",
            ]
            assert await _steps(run, "c") == ["placed", "remind-set", "remind", "pay-timeout"]


async def _steps(run: Run, key: str) -> list[str]:
    view = await run.view(Fulfilment, key)
    assert view is not None
    return list(view.state.get("steps", []))


async def _append_while_stopped(
    store: EventStore, type: str, order_id: str, **data: object
) -> None:
    await store.append(f"order-{order_id}", [NewEvent(type, {"order_id": order_id, **data})])
