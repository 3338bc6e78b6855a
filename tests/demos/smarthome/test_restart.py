"""Durable timers in one process: the engine stopped and started again keeps its
delays, ``for:`` durations, waits and queued runs; time triggers that fell due
while it was down fire on start-up, or are skipped when the automation says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from eventflux import NewEvent

from .helpers import rig

pytestmark = pytest.mark.asyncio

DELAY = """
- id: night
  mode: restart
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
  actions:
    - action: light.turn_on
      target: {entity_id: hall.light}
    - wait_for_trigger:
        - trigger: state
          entity_id: hall.motion
          to: "off"
    - delay: 300
    - action: light.turn_off
      target: {entity_id: hall.light}
- id: door
  mode: parallel
  triggers:
    - trigger: state
      entity_id: front.door
      to: open
      for: 120
  actions:
    - action: notify.phone
      data: {message: "{{ trigger.entity_id }} open"}
"""


async def motion(r: Any) -> None:
    await r.state("hall.motion", "off")
    await r.state("hall.motion", "on")


async def test_a_wait_then_a_delay_survive_restarts() -> None:
    async with rig(DELAY) as r:
        await motion(r)
        await r.restart()  # during the wait
        await r.advance(30)
        await r.state("hall.motion", "off")  # the wait, resumed, ends
        await r.advance(100)
        await r.restart()  # during the delay
        await r.advance(199)
        assert await r.commands() == [("hall.light", "turn_on")]
        await r.advance(2)
        assert await r.commands() == [("hall.light", "turn_on"), ("hall.light", "turn_off")]
        assert await r.outcomes() == ["done"]
        assert len(await r.events("smarthome.RunStarted")) == 1


async def test_a_delay_that_fell_due_while_down_fires_on_start() -> None:
    async with rig(DELAY) as r:
        await motion(r)
        await r.state("hall.motion", "off")
        await r.stop()
        await r.clock.advance(timedelta(minutes=30))
        await r.start()
        await r.settle()
        assert await r.commands() == [("hall.light", "turn_on"), ("hall.light", "turn_off")]
        (fired,) = await r.events("smarthome.TimerFired")
        assert fired.data["at"] > fired.data["due"]  # late, once: it was down


async def test_a_for_duration_survives_a_restart_and_a_close_still_cancels_it() -> None:
    async with rig(DELAY) as r:
        await r.state("front.door", "closed")
        await r.state("front.door", "open")
        await r.restart()
        await r.advance(60)
        await r.state("front.door", "closed")
        await r.restart()
        await r.advance(300)
        assert await r.events("smarthome.Notified") == []
        await r.state("front.door", "open")
        await r.restart()
        await r.advance(121)
        assert len(await r.events("smarthome.Notified")) == 1


async def test_the_engine_resumes_after_the_last_event_it_decided_on() -> None:
    async with rig(DELAY) as r:
        await r.state("front.door", "closed")
        await r.stop()
        await r.store.append(
            "home-front.door",
            [
                NewEvent(
                    "home.state",
                    {
                        "state": "open",
                        "entity_id": "front.door",
                        "subject": "home.front.door.state",
                        "at": r.clock.now().isoformat(),
                    },
                )
            ],
        )
        await r.start()  # the door opened while the engine was down: it sees it now
        await r.advance(121)
        assert len(await r.events("smarthome.Notified")) == 1


TIMED = """
- id: eight
  missed: {missed}
  triggers:
    - trigger: time
      at: "23:00"
  actions:
    - action: light.turn_off
      target: {{entity_id: hall.light}}
"""


@pytest.mark.parametrize(("policy", "fired"), [("fire", 1), ("skip", 0)])
async def test_a_time_trigger_missed_while_down(policy: str, fired: int) -> None:
    async with rig(TIMED.format(missed=policy)) as r:  # 21:00
        await r.stop()
        await r.clock.advance(timedelta(hours=3))  # 00:00: 23:00 passed while down
        await r.start()
        await r.settle()
        assert len(await r.commands()) == fired
        timers = [e.type async for e in r.store.read("automation-eight")]
        last = "smarthome.TimerFired" if policy == "fire" else "smarthome.TimerSkipped"
        assert timers == ["smarthome.TimerSet", last, "smarthome.TimerSet"]
        await r.advance(timedelta(hours=23))  # the next 23:00 fires as usual
        assert len(await r.commands()) == fired + 1


QUEUED = """
- id: q
  mode: queued
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
  actions:
    - delay: 60
    - action: light.toggle
      target: {entity_id: hall.light}
"""


async def test_queued_runs_survive_a_restart_in_order() -> None:
    async with rig(QUEUED) as r:
        for _ in range(3):
            await motion(r)
        await r.restart()
        for _ in range(3):
            await r.advance(61)
        assert await r.commands() == [("hall.light", "toggle")] * 3
        assert await r.outcomes() == ["done"] * 3


async def test_the_world_comes_back_from_the_checkpoint() -> None:
    async with rig(DELAY, checkpoint_every=3) as r:
        for i in range(7):
            await r.state("utility.energy", 300 + i)
        await r.restart(checkpoint_every=3)
        await r.settle()
        assert r.engine is not None
        assert r.engine.session is not None
        assert r.engine.session.world.entities["utility.energy"].state == 306
        checkpoints = [e async for e in r.store.read("smarthome-engine")]
        assert len(checkpoints) >= 2
        assert checkpoints[-1].data["position"] <= r.engine.session.position
