"""Every condition kind, evaluated when a trigger fires, with its result recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .helpers import rig

pytestmark = pytest.mark.asyncio


def automation(conditions: str) -> str:
    return (
        """
- id: check
  mode: parallel
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
      id: motion
    - trigger: state
      entity_id: hall.door
      to: open
      id: door
  conditions:
"""
        + conditions
        + """
  actions:
    - action: light.turn_on
      target: {entity_id: hall.light}
"""
    )


async def motion(r, n: int = 1) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        await r.state("hall.motion", "off")
        await r.state("hall.motion", "on")


async def test_state_condition_with_attribute_and_for() -> None:
    yaml = automation(
        """
    - condition: state
      entity_id: [front.lock, back.lock]
      state: locked
    - condition: state
      entity_id: hall.light
      attribute: brightness
      state: [0, 10]
      for: "00:10:00"
"""
    )
    async with rig(yaml) as r:
        await r.state("front.lock", "locked")
        await r.state("back.lock", "unlocked")
        await r.state("hall.light", "off", brightness=0)
        await motion(r)  # back.lock unlocked
        await r.state("back.lock", "locked")
        await motion(r)  # the light's state has not lasted 10 minutes
        await r.advance(timedelta(minutes=11))
        await motion(r)  # both hold
        assert await r.outcomes() == ["conditions not met", "conditions not met", "done"]
        skipped = (await r.events("smarthome.RunSkipped"))[0]
        first = skipped.data["conditions"][0]
        assert first["seen"] == {"front.lock": "locked", "back.lock": "unlocked"}
        assert first["result"] is False


async def test_numeric_condition() -> None:
    yaml = automation(
        """
    - condition: numeric_state
      entity_id: living.thermostat
      attribute: current_temperature
      below: 18
"""
    )
    async with rig(yaml) as r:
        await r.state("living.thermostat", "heat", current_temperature=21)
        await motion(r)
        await r.state("living.thermostat", "heat", current_temperature=17.5)
        await motion(r)
        assert await r.outcomes() == ["conditions not met", "done"]


async def test_a_time_window_across_midnight_and_weekdays() -> None:
    yaml = automation(
        """
    - condition: time
      after: "22:00"
      before: "06:00"
      weekday: [thu, fri]
"""
    )
    async with rig(yaml, start=datetime(2026, 1, 15, 21, 59, tzinfo=UTC)) as r:  # Thursday
        await motion(r)  # 21:59: before the window
        await r.advance(timedelta(minutes=1))
        await motion(r)  # 22:00 Thursday: in
        await r.advance(timedelta(hours=8))
        await motion(r)  # 06:00 Friday: out
        await r.advance(timedelta(hours=21))
        await motion(r)  # 03:00 Saturday: in the window, but not a listed weekday
        assert await r.outcomes() == [
            "conditions not met",
            "done",
            "conditions not met",
            "conditions not met",
        ]
        checked = [
            e.data["conditions"][0]["now"]
            for e in await r.events("smarthome.RunSkipped", "smarthome.RunStarted")
        ]
        assert checked == ["Thu 21:59:00", "Thu 22:00:00", "Fri 06:00:00", "Sat 03:00:00"]


async def test_and_or_not_and_trigger_ids() -> None:
    yaml = automation(
        """
    - condition: or
      conditions:
        - condition: and
          conditions:
            - condition: trigger
              id: motion
            - condition: state
              entity_id: hall.light
              state: "off"
        - condition: not
          conditions:
            - condition: trigger
              id: [motion]
"""
    )
    async with rig(yaml) as r:
        await r.state("hall.light", "on")
        await motion(r)  # motion, light on: no
        await r.state("hall.door", "closed")
        await r.state("hall.door", "open")  # the door trigger: not motion -> yes
        await r.state("hall.light", "off")
        await motion(r)  # motion, light off: yes
        assert await r.outcomes() == ["conditions not met", "done", "done"]
        started = await r.events("smarthome.RunStarted")
        assert [e.data["trigger"]["id"] for e in started] == ["door", "motion"]
        tree = started[0].data["conditions"][0]
        assert tree["condition"] == "or"
        assert tree["conditions"][1]["condition"] == "not"
