"""A rules engine on an in-memory store with a manual clock, fed device events by hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from eventflux import NewEvent, RecordedEvent, open_store
from eventflux.demos.smarthome.clock import ManualClock
from eventflux.demos.smarthome.rules.engine import RulesEngine
from eventflux.demos.smarthome.rules.journal import RUN_PREFIX
from eventflux.demos.smarthome.rules.model import Automation
from eventflux.demos.smarthome.rules.parse import load_automations_text
from eventflux.store import EventStore

#: a Thursday evening, in UTC (the rigs' time zone)
START = datetime(2026, 1, 15, 21, 0, tzinfo=UTC)

__all__ = ["START", "Rig", "rig"]


class Rig:
    """An engine running on ``store`` with ``clock``; device events appended directly."""

    def __init__(self, store: EventStore, clock: ManualClock, automations: list[Automation]):
        self.store = store
        self.clock = clock
        self.automations = automations
        self.engine: RulesEngine | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, **options: Any) -> RulesEngine:
        options.setdefault("offline_after", timedelta(days=365))
        self.engine = RulesEngine(self.automations, clock=self.clock, tz="UTC", **options)
        self.task = asyncio.create_task(self.engine.run(self.store))
        async with asyncio.timeout(10):
            await self.engine.wait_ready()
        return self.engine

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def restart(self, **options: Any) -> RulesEngine:
        await self.stop()
        return await self.start(**options)

    async def settle(self) -> None:
        assert self.engine is not None
        async with asyncio.timeout(10):
            await self.engine.settle(self.store)

    async def device(self, entity_id: str, event: str = "state", **data: Any) -> RecordedEvent:
        """A device event as the recorder stores it, then wait for the engine."""
        room, _, name = entity_id.partition(".")
        payload = {"at": self.clock.now().isoformat(), **data}
        payload.update(subject=f"home.{room}.{name}.{event}", entity_id=entity_id)
        await self.store.append(f"home-{entity_id}", [NewEvent(f"home.{event}", payload)])
        await self.settle()
        return await anext(self.store.read(f"home-{entity_id}", backwards=True, limit=1))

    async def state(self, entity_id: str, state: Any, **attributes: Any) -> RecordedEvent:
        data: dict[str, Any] = {"state": state}
        if attributes:
            data["attributes"] = attributes
        return await self.device(entity_id, "state", **data)

    async def advance(self, by: timedelta | float) -> None:
        """Move the clock, stopping at each timer of the engine, settling after each."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        target = self.clock.now() + step
        assert self.engine is not None
        while self.clock.now() < target:
            session = self.engine.session
            due = None if session is None else session.timers.next_due()
            stop = target if due is None or due <= self.clock.now() else min(due, target)
            await self.clock.set(stop)
            await self.settle()
        await self.settle()

    async def events(self, *types: str) -> list[RecordedEvent]:
        """The engine's run events (of ``types``), in position order."""
        return [
            e
            async for e in self.store.read_all(stream_prefix=RUN_PREFIX)
            if not types or e.type in types
        ]

    async def commands(self) -> list[tuple[str, str]]:
        """(entity, command) of every command the runs sent."""
        return [
            (e.data["entity_id"], e.data["command"])
            for e in await self.events("smarthome.CommandSent")
        ]

    async def outcomes(self, automation_id: str | None = None) -> list[str]:
        """How each run ended or why it was skipped, in order."""
        out = []
        for e in await self.events("smarthome.RunFinished", "smarthome.RunSkipped"):
            if automation_id is None or e.data.get("automation") == automation_id:
                out.append(str(e.data.get("outcome") or e.data.get("reason")))
        return out


@asynccontextmanager
async def rig(yaml: str, *, start: datetime = START, **options: Any) -> AsyncIterator[Rig]:
    """A started :class:`Rig` for the automations in ``yaml``."""
    automations = load_automations_text(yaml, "test.yaml")
    clock = ManualClock(start)
    async with await open_store("memory://") as store:
        r = Rig(store, clock, automations)
        await r.start(**options)
        try:
            yield r
        finally:
            await r.stop()
