"""The engine killed with SIGKILL during a ``for:`` wait and during a delay,
started again: the automation fires once, at its time, not before.

The engine runs in a child process on a SQLite store; its clock is a file
this test moves (FileClock). A probe automation answers a ping, so the test
knows the restarted engine has looked at the time without waiting blindly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventflux import NewEvent, open_store
from eventflux.demos.smarthome.clock import FileClock
from eventflux.store import EventStore

pytestmark = pytest.mark.asyncio

CHILD = Path(__file__).with_name("engine_child.py")
T0 = datetime(2026, 1, 16, 2, 13, tzinfo=UTC)
AUTOMATIONS = """
- id: door
  triggers:
    - trigger: state
      entity_id: front.door
      to: open
      for: 60
  actions:
    - action: notify.phone
      data: {message: "{{ trigger.entity_id }} open"}
- id: night
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
  actions:
    - action: light.turn_on
      target: {entity_id: hall.light}
    - delay: 60
    - action: light.turn_off
      target: {entity_id: hall.light}
- id: probe
  mode: parallel
  triggers:
    - trigger: event
      subject: home.probe.ping.ping
  actions:
    - event: probe.pong
"""


class Engine:
    """One engine process at a time, killed and started at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"sqlite:///{folder}/events.db"
        self.clock = folder / "clock"
        self.yaml = folder / "automations.yaml"
        self.yaml.write_text(AUTOMATIONS)
        self.proc: subprocess.Popen[bytes] | None = None
        self.set_time(T0)

    def set_time(self, when: datetime) -> None:
        FileClock.write(self.clock, when)

    async def start(self) -> None:
        ready = self.folder / "ready"
        ready.unlink(missing_ok=True)
        with open(self.folder / "engine.log", "ab") as log:  # noqa: ASYNC230 - a local file
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - starts at once, waited below
                [sys.executable, str(CHILD), self.url, str(self.clock), str(self.yaml), str(ready)],
                stderr=log,
            )
        async with asyncio.timeout(60):
            while not ready.exists():
                assert self.proc.poll() is None, (self.folder / "engine.log").read_text()
                await asyncio.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL
        self.proc = None


@asynccontextmanager
async def engine_process(tmp_path: Path) -> AsyncIterator[tuple[Engine, EventStore]]:
    engine = Engine(tmp_path)
    async with await open_store(engine.url) as store:
        try:
            yield engine, store
        finally:
            if engine.proc is not None:
                engine.kill()


async def device(store: EventStore, entity_id: str, event: str, at: datetime, **data: Any) -> None:
    room, _, name = entity_id.partition(".")
    payload = {
        "subject": f"home.{room}.{name}.{event}",
        "entity_id": entity_id,
        "at": at.isoformat(),
        **data,
    }
    await store.append(f"home-{entity_id}", [NewEvent(f"home.{event}", payload)])


async def run_events(store: EventStore, *types: str, of: str | None = None) -> list[Any]:
    """The run events of ``types`` (of automation ``of``, else of any but the probe)."""
    return [
        e
        async for e in store.read_all(stream_prefix="run-")
        if e.type in types
        and (e.metadata.get("automation") == of if of else e.metadata.get("automation") != "probe")
    ]


async def until(store: EventStore, condition: Any) -> Any:
    """Poll the store until ``condition(store)`` returns something true."""
    async with asyncio.timeout(60):
        while True:
            found = await condition(store)
            if found:
                return found
            await asyncio.sleep(0.02)


async def ping(store: EventStore, at: datetime) -> None:
    """The engine answers a ping: it has handled everything before it, at ``at``."""
    before = len(await run_events(store, "smarthome.EventFired", of="probe"))
    await device(store, "probe.ping", "ping", at)

    async def answered(s: EventStore) -> bool:
        return len(await run_events(s, "smarthome.EventFired", of="probe")) > before

    await until(store, answered)


async def automation_events(store: EventStore, stream: str) -> list[str]:
    return [e.type async for e in store.read(stream)]


async def test_killed_during_a_for_wait_it_fires_once_at_its_time(tmp_path: Path) -> None:
    async with engine_process(tmp_path) as (engine, store):
        await engine.start()
        await device(store, "front.door", "contact", T0, state="closed")
        await device(store, "front.door", "contact", T0, state="open")

        async def armed(s: EventStore) -> bool:
            return "smarthome.TimerSet" in await automation_events(s, "automation-door")

        await until(store, armed)
        engine.kill()  # during the for: wait
        engine.set_time(T0 + timedelta(seconds=59))
        await engine.start()
        await ping(store, T0 + timedelta(seconds=59))
        assert await run_events(store, "smarthome.Notified") == []  # not before its time
        engine.kill()
        await engine.start()  # killed and started once more, still before its time
        engine.set_time(T0 + timedelta(seconds=61))

        async def notified(s: EventStore) -> list[Any]:
            return await run_events(s, "smarthome.Notified")

        (note,) = await until(store, notified)
        await ping(store, T0 + timedelta(seconds=62))
        assert len(await run_events(store, "smarthome.Notified")) == 1
        assert await automation_events(store, "automation-door") == [
            "smarthome.TimerSet",
            "smarthome.TimerFired",
        ]
        fired = [e async for e in store.read("automation-door")][1]
        assert fired.data["due"] == (T0 + timedelta(seconds=60)).isoformat()
        assert T0 + timedelta(seconds=60) <= datetime.fromisoformat(fired.data["at"])
        assert note.data["message"] == "front.door open"


async def test_killed_during_a_delay_it_goes_on_once_at_its_time(tmp_path: Path) -> None:
    async with engine_process(tmp_path) as (engine, store):
        await engine.start()
        await device(store, "hall.motion", "motion", T0, state="off")
        await device(store, "hall.motion", "motion", T0, state="on")

        async def delaying(s: EventStore) -> bool:
            sets = await run_events(s, "smarthome.TimerSet")
            return any(e.data.get("purpose") == "delay" for e in sets)

        await until(store, delaying)
        engine.kill()  # during the delay
        engine.set_time(T0 + timedelta(seconds=30))
        await engine.start()
        await ping(store, T0 + timedelta(seconds=30))
        commands = await run_events(store, "smarthome.CommandSent")
        assert [e.data["command"] for e in commands] == ["turn_on"]
        engine.set_time(T0 + timedelta(seconds=61))

        async def finished(s: EventStore) -> list[Any]:
            return await run_events(s, "smarthome.RunFinished")

        await until(store, finished)
        await ping(store, T0 + timedelta(seconds=62))
        commands = await run_events(store, "smarthome.CommandSent")
        assert [e.data["command"] for e in commands] == ["turn_on", "turn_off"]
        assert len(await run_events(store, "smarthome.RunStarted")) == 1
        assert len(await run_events(store, "smarthome.RunFinished")) == 1
        (fired,) = list(await run_events(store, "smarthome.TimerFired"))
        assert fired.data["due"] == (T0 + timedelta(seconds=60)).isoformat()
        assert datetime.fromisoformat(commands[1].data["at"]) >= T0 + timedelta(seconds=60)
