"""Every action kind: what each records in the run's stream, with its timing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from eventflux.demos.smarthome.rules.model import (
    Automation,
    PythonAction,
    StateTrigger,
)

from .helpers import rig

pytestmark = pytest.mark.asyncio


def motion_automation(actions: str, mode: str = "parallel") -> str:
    return f"""
- id: act
  mode: {mode}
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
      id: motion
  actions:
{actions}
"""


async def motion(r: Any) -> None:
    await r.state("hall.motion", "off")
    await r.state("hall.motion", "on")


async def test_device_commands_events_and_notifications() -> None:
    yaml = motion_automation(
        """
    - action: light.turn_on
      target: {entity_id: [hall.light, kitchen.light]}
      data: {brightness: 40}
    - event: smarthome.alerts.motion
      event_data: {where: "{{ trigger.entity_id }}"}
    - action: notify.phone
      data: {title: Motion, message: "{{ trigger.entity_id }} saw someone ({{ trigger.id }})"}
"""
    )
    async with rig(yaml) as r:
        await motion(r)
        sent = await r.events("smarthome.CommandSent")
        assert [(e.data["entity_id"], e.data["command"], e.data["data"]) for e in sent] == [
            ("hall.light", "turn_on", {"brightness": 40}),
            ("kitchen.light", "turn_on", {"brightness": 40}),
        ]
        (fired,) = await r.events("smarthome.EventFired")
        assert fired.data["subject"] == "smarthome.alerts.motion"
        assert fired.data["data"] == {"where": "hall.motion"}
        (note,) = await r.events("smarthome.Notified")
        assert (note.data["target"], note.data["title"], note.data["message"]) == (
            "phone",
            "Motion",
            "hall.motion saw someone (motion)",
        )
        assert all("duration_ms" in e.data and "at" in e.data for e in (fired, note))
        assert await r.outcomes() == ["done"]


async def test_a_delay_waits_on_the_clock() -> None:
    yaml = motion_automation(
        """
    - action: light.turn_on
      target: {entity_id: hall.light}
    - delay: {minutes: 5}
    - action: light.turn_off
      target: {entity_id: hall.light}
"""
    )
    async with rig(yaml) as r:
        await motion(r)
        started = r.clock.now()
        await r.advance(timedelta(seconds=299))
        assert await r.commands() == [("hall.light", "turn_on")]
        await r.advance(timedelta(seconds=2))
        assert await r.commands() == [("hall.light", "turn_on"), ("hall.light", "turn_off")]
        off = (await r.events("smarthome.CommandSent"))[-1]
        assert off.data["at"] == (started + timedelta(minutes=5)).isoformat()


async def test_wait_for_trigger_matched_and_timed_out() -> None:
    yaml = motion_automation(
        """
    - wait_for_trigger:
        - trigger: state
          entity_id: hall.motion
          to: "off"
          for: 30
      timeout: 120
    - action: light.turn_off
      target: {entity_id: hall.light}
"""
    )
    async with rig(yaml) as r:
        await motion(r)
        await r.advance(20)
        await r.state("hall.motion", "off")
        await r.advance(29)
        assert await r.commands() == []
        await r.advance(2)  # off for 30 s: the wait ends, the run goes on
        assert await r.commands() == [("hall.light", "turn_off")]
        (ended,) = await r.events("smarthome.WaitEnded")
        assert ended.data["timed_out"] is False
        assert "stayed for 0:00:30" in ended.data["trigger"]["description"]
        await r.state("hall.motion", "on")  # a new run; nothing ends its wait
        await r.advance(121)
        ends = await r.events("smarthome.WaitEnded")
        assert ends[-1].data["timed_out"] is True
        assert await r.commands() == [("hall.light", "turn_off")] * 2  # continue_on_timeout


async def test_a_wait_that_times_out_can_stop_the_run() -> None:
    yaml = motion_automation(
        """
    - wait_for_trigger:
        - trigger: event
          subject: home.front.door.contact
      timeout: 10
      continue_on_timeout: false
    - action: light.turn_off
      target: {entity_id: hall.light}
"""
    )
    async with rig(yaml) as r:
        await motion(r)
        await r.advance(11)
        assert await r.commands() == []
        assert await r.outcomes() == ["wait timed out"]


async def test_choose_if_and_default() -> None:
    yaml = motion_automation(
        """
    - choose:
        - conditions:
            - condition: state
              entity_id: hall.light
              state: "on"
          sequence:
            - action: light.turn_off
              target: {entity_id: hall.light}
      default:
        - action: light.turn_on
          target: {entity_id: hall.light}
    - if:
        - condition: state
          entity_id: front.lock
          state: unlocked
      then:
        - action: lock.lock
          target: {entity_id: front.lock}
      else:
        - action: notify.phone
          data: {message: already locked}
"""
    )
    async with rig(yaml) as r:
        await r.state("hall.light", "off")
        await r.state("front.lock", "unlocked")
        await motion(r)
        await r.state("hall.light", "on")
        await r.state("front.lock", "locked")
        await motion(r)
        assert await r.commands() == [
            ("hall.light", "turn_on"),
            ("front.lock", "lock"),
            ("hall.light", "turn_off"),
        ]
        assert len(await r.events("smarthome.Notified")) == 1
        choices = [e.data["result"] for e in await r.events("smarthome.StepDone")]
        assert choices == [-1, 0, 0, -1]


async def test_repeat_count_while_and_until() -> None:
    yaml = motion_automation(
        """
    - repeat:
        count: 3
        sequence:
          - action: light.toggle
            target: {entity_id: hall.light}
    - repeat:
        while:
          - condition: state
            entity_id: front.lock
            state: unlocked
        sequence:
          - action: lock.lock
            target: {entity_id: front.lock}
          - delay: 10
    - repeat:
        until:
          - condition: state
            entity_id: back.lock
            state: locked
        sequence:
          - action: lock.lock
            target: {entity_id: back.lock}
          - delay: 10
"""
    )
    async with rig(yaml) as r:
        await r.state("front.lock", "unlocked")
        await r.state("back.lock", "unlocked")
        await motion(r)
        await r.advance(10)  # the while loop locked once; the lock still says unlocked
        await r.state("front.lock", "locked")
        await r.advance(10)  # the while check fails now: on to the until loop
        await r.advance(10)
        await r.state("back.lock", "locked")
        await r.advance(10)
        commands = await r.commands()
        assert (
            commands
            == [("hall.light", "toggle")] * 3
            + [("front.lock", "lock")] * 2
            + [("back.lock", "lock")] * 2
        )
        assert await r.outcomes() == ["done"]


async def test_parallel_branches_run_together() -> None:
    yaml = motion_automation(
        """
    - parallel:
        - sequence:
            - delay: 60
            - action: light.turn_on
              target: {entity_id: hall.light}
        - action: notify.phone
          data: {message: now}
        - sequence:
            - delay: 30
            - action: lock.lock
              target: {entity_id: front.lock}
    - action: notify.phone
      data: {message: all done}
"""
    )
    async with rig(yaml) as r:
        await motion(r)
        assert [e.data["message"] for e in await r.events("smarthome.Notified")] == ["now"]
        await r.advance(31)
        assert await r.commands() == [("front.lock", "lock")]
        await r.advance(30)
        assert await r.commands() == [("front.lock", "lock"), ("hall.light", "turn_on")]
        notes = [e.data["message"] for e in await r.events("smarthome.Notified")]
        assert notes == ["now", "all done"]
        paths = [e.data["path"] for e in await r.events("smarthome.CommandSent")]
        assert paths == ["0.b2.1", "0.b0.1"]


async def test_a_condition_step_and_a_stop_step_end_the_run() -> None:
    yaml = motion_automation(
        """
    - condition: state
      entity_id: front.lock
      state: locked
    - action: light.turn_on
      target: {entity_id: hall.light}
    - stop: "that is enough"
    - action: light.turn_off
      target: {entity_id: hall.light}
"""
    )
    async with rig(yaml) as r:
        await r.state("front.lock", "unlocked")
        await motion(r)
        await r.state("front.lock", "locked")
        await motion(r)
        assert await r.commands() == [("hall.light", "turn_on")]
        finished = await r.events("smarthome.RunFinished")
        assert [(e.data["outcome"], e.data["reason"]) for e in finished] == [
            ("stopped", "condition of step 0 does not hold"),
            ("stopped", "that is enough"),
        ]


async def test_a_python_action_and_an_automation_built_in_python() -> None:
    seen: list[str] = []

    async def remember(step: Any) -> dict[str, Any]:
        seen.append(step.trigger["entity_id"])
        return {"count": len(seen)}

    automation = Automation(
        id="py",
        mode="parallel",
        triggers=(StateTrigger(entity_id=("hall.motion",), to=("on",)),),
        actions=(PythonAction(remember, name="remember"),),
    )
    from eventflux import open_store
    from eventflux.demos.smarthome.clock import ManualClock

    from .helpers import START, Rig

    async with await open_store("memory://") as store:
        r = Rig(store, ManualClock(START), [automation])
        await r.start()
        try:
            await motion(r)
            await motion(r)
        finally:
            await r.stop()
        assert seen == ["hall.motion", "hall.motion"]
        results = [e.data["result"] for e in await r.events("smarthome.StepDone")]
        assert results == [{"count": 1}, {"count": 2}]
        assert automation.triggers[0].id == "0"
