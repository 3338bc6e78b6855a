"""Every trigger kind, on a manual clock: what fires, what does not, and when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .helpers import START, rig

pytestmark = pytest.mark.asyncio

LIGHT = """
  actions:
    - action: light.turn_on
      target: {entity_id: hall.light}
"""


async def test_an_event_trigger_matches_subject_wildcards_and_data() -> None:
    yaml = (
        """
- id: doors
  mode: parallel
  triggers:
    - trigger: event
      subject: home.*.door.contact
      event_data: {state: open}
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        await r.device("front.door", "contact", state="open")
        await r.device("back.door", "contact", state="closed")  # data does not match
        await r.device("front.lock", "state", state="open")  # subject does not match
        await r.device("back.door", "contact", state="open")
        runs = await r.events("smarthome.RunStarted")
        assert [e.data["trigger"]["subject"] for e in runs] == [
            "home.front.door.contact",
            "home.back.door.contact",
        ]


async def test_a_tail_wildcard_matches_one_or_more_tokens() -> None:
    yaml = (
        """
- id: any
  mode: parallel
  triggers:
    - trigger: event
      subject: home.hall.>
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        await r.device("hall.motion", "motion", state="on")
        await r.device("kitchen.motion", "motion", state="on")
        assert len(await r.events("smarthome.RunStarted")) == 1


async def test_a_state_trigger_fires_on_a_matching_change_only() -> None:
    yaml = (
        """
- id: motion
  mode: parallel
  triggers:
    - trigger: state
      entity_id: hall.motion
      from: "off"
      to: "on"
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        await r.state("hall.motion", "on")  # the first reading: no change known
        await r.state("hall.motion", "on")  # no change
        await r.state("hall.motion", "off")  # a change, but not to on
        await r.state("hall.motion", "on")  # off -> on: fires
        await r.state("hall.motion", "unavailable")
        await r.state("hall.motion", "on")  # from unavailable: not from off
        runs = await r.events("smarthome.RunStarted")
        assert len(runs) == 1
        trigger = runs[0].data["trigger"]
        assert (trigger["from"], trigger["to"], trigger["entity_id"]) == (
            "off",
            "on",
            "hall.motion",
        )
        assert trigger["description"] == "hall.motion changed from off to on"


async def test_a_state_trigger_on_an_attribute_and_not_to() -> None:
    yaml = """
- id: dim
  mode: parallel
  triggers:
    - trigger: state
      entity_id: hall.light
      attribute: brightness
      not_to: [0]
""" + LIGHT.replace("hall.light", "kitchen.light")
    async with rig(yaml) as r:
        await r.state("hall.light", "on", brightness=10)
        await r.state("hall.light", "on", brightness=50)  # fires
        await r.state("hall.light", "off", brightness=0)  # not_to
        await r.state("hall.light", "on", brightness=80)  # fires
        assert [e.data["trigger"]["to"] for e in await r.events("smarthome.RunStarted")] == [50, 80]


async def test_a_state_trigger_with_for_fires_once_the_state_held_that_long() -> None:
    yaml = (
        """
- id: door_open
  mode: parallel
  triggers:
    - trigger: state
      entity_id: front.door
      to: open
      for: "00:02:00"
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        await r.state("front.door", "closed")
        await r.state("front.door", "open")
        await r.advance(timedelta(seconds=119))
        assert await r.events("smarthome.RunStarted") == []
        await r.state("front.door", "closed")  # closed in time: the timer is cancelled
        await r.advance(timedelta(minutes=5))
        assert await r.events("smarthome.RunStarted") == []
        cancelled = [e async for e in r.store.read("automation-door_open")]
        assert [e.type for e in cancelled] == ["smarthome.TimerSet", "smarthome.TimerCancelled"]
        opened = r.clock.now()
        await r.state("front.door", "open")
        await r.advance(timedelta(minutes=3))
        runs = await r.events("smarthome.RunStarted")
        assert len(runs) == 1
        assert runs[0].data["at"] == (opened + timedelta(minutes=2)).isoformat()
        assert "stayed for 0:02:00" in runs[0].data["trigger"]["description"]


async def test_a_numeric_trigger_fires_on_crossing_not_on_every_reading_above() -> None:
    yaml = (
        """
- id: spike
  mode: parallel
  triggers:
    - trigger: numeric_state
      entity_id: utility.energy
      above: 3000
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        for watts in (3500, 2000, 3100, 3200, 4000, 2999, 1000, 3000, 3000.5, "n/a", 5000):
            await r.device("utility.energy", "power", state=watts)
        runs = await r.events("smarthome.RunStarted")
        # 3500 was the first reading (nothing to cross from); 2000 -> 3100 crosses;
        # 1000 -> 3000 does not (3000 is not above 3000); 3000 -> 3000.5 crosses;
        # a reading that is not a number is not "below": n/a -> 5000 does not cross
        assert [e.data["trigger"]["to"] for e in runs] == [3100, 3000.5]


async def test_a_numeric_range_with_for() -> None:
    yaml = (
        """
- id: cold
  mode: parallel
  triggers:
    - trigger: numeric_state
      entity_id: living.thermostat
      attribute: current_temperature
      above: 5
      below: 17
      for: 600
"""
        + LIGHT
    )
    async with rig(yaml) as r:
        await r.state("living.thermostat", "heat", current_temperature=19)
        await r.state("living.thermostat", "heat", current_temperature=16)
        await r.advance(300)
        await r.state("living.thermostat", "heat", current_temperature=16.5)  # still in range
        await r.advance(301)
        assert len(await r.events("smarthome.RunStarted")) == 1
        await r.state("living.thermostat", "heat", current_temperature=18)
        await r.state("living.thermostat", "heat", current_temperature=15)
        await r.advance(100)
        await r.state("living.thermostat", "heat", current_temperature=4)  # left the range
        await r.advance(1000)
        assert len(await r.events("smarthome.RunStarted")) == 1


async def test_a_time_trigger_fires_every_day_at_its_times() -> None:
    yaml = (
        """
- id: evening
  mode: parallel
  triggers:
    - trigger: time
      at: ["21:30", "23:00:30"]
"""
        + LIGHT
    )
    async with rig(yaml) as r:  # starts at 21:00
        await r.advance(timedelta(minutes=29))
        assert await r.events("smarthome.RunStarted") == []
        await r.advance(timedelta(hours=25))
        due = [e.data["trigger"]["due"] for e in await r.events("smarthome.RunStarted")]
        assert due == [
            "2026-01-15T21:30:00+00:00",
            "2026-01-15T23:00:30+00:00",
            "2026-01-16T21:30:00+00:00",
        ]


async def test_a_cron_trigger() -> None:
    yaml = (
        """
- id: quarter
  mode: parallel
  triggers:
    - trigger: cron
      cron: "*/15 21 * * thu"
"""
        + LIGHT
    )
    async with rig(yaml) as r:  # Thursday 21:00
        await r.advance(timedelta(hours=1))
        due = [e.data["trigger"]["due"][11:16] for e in await r.events("smarthome.RunStarted")]
        assert due == ["21:15", "21:30", "21:45"]
        await r.advance(timedelta(days=6, hours=23))  # the next Thursday 21:00 ...
        assert len(await r.events("smarthome.RunStarted")) == 4


async def test_an_offline_trigger_fires_when_heartbeats_stop() -> None:
    yaml = (
        """
- id: gone
  mode: parallel
  triggers:
    - trigger: offline
      entity_id: [front.lock]
"""
        + LIGHT
    )
    async with rig(yaml, offline_after=timedelta(seconds=90)) as r:
        await r.device("front.lock", "heartbeat", state="locked")
        await r.device("back.lock", "heartbeat", state="locked")
        await r.advance(60)
        await r.device("front.lock", "heartbeat", state="locked")
        await r.advance(60)
        assert await r.events("smarthome.RunStarted") == []  # front.lock was seen 60 s ago
        await r.advance(60)
        runs = await r.events("smarthome.RunStarted")
        assert [e.data["trigger"]["entity_id"] for e in runs] == ["front.lock"]
        offline = [e.type async for e in r.store.read("home-front.lock")]
        assert offline[-1] == "home.offline"
        await r.device("front.lock", "heartbeat", state="locked")  # back: marked online
        assert [e.type async for e in r.store.read("home-front.lock")][-2:] == [
            "home.heartbeat",
            "home.online",
        ]
        assert r.engine is not None
        assert r.engine.session is not None
        assert r.engine.session.world.entities["front.lock"].online


async def test_trigger_ids_default_to_their_index() -> None:
    yaml = (
        """
- id: ids
  mode: parallel
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
    - trigger: state
      entity_id: hall.motion
      to: "off"
      id: quiet
"""
        + LIGHT
    )
    async with rig(yaml, start=START) as r:
        await r.state("hall.motion", "off")
        await r.state("hall.motion", "on")
        await r.state("hall.motion", "off")
        ids = [e.data["trigger"]["id"] for e in await r.events("smarthome.RunStarted")]
        assert ids == ["0", "quiet"]
