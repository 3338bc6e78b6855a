"""Run modes, as Home Assistant defines them: single, restart, queued, parallel with max."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from .helpers import rig

pytestmark = pytest.mark.asyncio


def automation(mode: str, extra: str = "") -> str:
    return f"""
- id: busy
  mode: {mode}
{extra}
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
  actions:
    - action: light.turn_on
      target: {{entity_id: hall.light}}
      data: {{brightness: "{{{{ trigger.position }}}}"}}
    - delay: 60
    - action: light.turn_off
      target: {{entity_id: hall.light}}
"""


async def motion(r: Any) -> None:
    await r.state("hall.motion", "off")
    await r.state("hall.motion", "on")


async def test_single_drops_a_trigger_while_running_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with rig(automation("single")) as r:
        with caplog.at_level(logging.WARNING, logger="eventflux.demos.smarthome"):
            await motion(r)
            await r.advance(10)
            await motion(r)
        await r.advance(60)
        assert await r.outcomes() == ["already running (mode single)", "done"]
        assert "already running" in caplog.text
        await motion(r)  # the first run ended: a new one starts
        await r.advance(61)
        assert await r.outcomes() == ["already running (mode single)", "done", "done"]


async def test_max_exceeded_silent_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async with rig(automation("single", "  max_exceeded: silent")) as r:
        with caplog.at_level(logging.DEBUG, logger="eventflux.demos.smarthome"):
            await motion(r)
            await motion(r)
        assert "already running" not in caplog.text
        assert (await r.outcomes())[0] == "already running (mode single)"


async def test_restart_stops_the_running_run_and_its_timers() -> None:
    async with rig(automation("restart")) as r:
        await motion(r)
        await r.advance(30)
        await motion(r)  # restarts: the first run's delay never fires
        await r.advance(45)
        assert await r.commands() == [("hall.light", "turn_on")] * 2
        await r.advance(20)
        assert await r.commands() == [("hall.light", "turn_on")] * 2 + [("hall.light", "turn_off")]
        finished = await r.events("smarthome.RunFinished")
        assert [e.data["outcome"] for e in finished] == ["restarted", "done"]
        assert finished[0].data["reason"].startswith("restarted by run ")


async def test_queued_runs_one_after_another_in_order_up_to_max() -> None:
    async with rig(automation("queued", "  max: 3")) as r:
        for _ in range(4):  # one running, two queued, the fourth exceeds max
            await motion(r)
        assert await r.outcomes() == ["max exceeded: 3 runs queued"]
        queued = await r.events("smarthome.RunQueued")
        assert len(queued) == 2
        for _ in range(4):
            await r.advance(61)
        sent = await r.events("smarthome.CommandSent")
        ons = [int(e.data["data"]["brightness"]) for e in sent if e.data["command"] == "turn_on"]
        assert ons == sorted(ons)
        assert len(ons) == 3
        assert [e.data["command"] for e in sent] == ["turn_on", "turn_off"] * 3
        assert await r.outcomes() == ["max exceeded: 3 runs queued", "done", "done", "done"]


async def test_parallel_runs_side_by_side_up_to_max() -> None:
    async with rig(automation("parallel", "  max: 2")) as r:
        await motion(r)
        await r.advance(10)
        await motion(r)
        await motion(r)  # a third at once exceeds max 2
        assert await r.commands() == [("hall.light", "turn_on")] * 2
        await r.advance(timedelta(seconds=51))
        assert await r.commands() == [("hall.light", "turn_on")] * 2 + [("hall.light", "turn_off")]
        await r.advance(10)
        assert len(await r.commands()) == 4
        assert await r.outcomes() == ["max exceeded: 2 runs at once", "done", "done"]


async def test_the_default_max_is_ten() -> None:
    async with rig(automation("parallel")) as r:
        for _ in range(11):
            await motion(r)
        assert len(await r.events("smarthome.RunStarted")) == 10
        assert await r.outcomes() == ["max exceeded: 10 runs at once"]
