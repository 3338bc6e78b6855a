"""The smart home's scripted evening (``eventflux demo smarthome``).

A Thursday evening on a manual clock, on SQLite files: the family comes
home, a door is left open, the oven makes the power spike, the house is
locked for the night, someone walks through the hall at 02:13, and the hub
restarts in the middle of the hall light's five-minute delay. Then each
automation run is printed with its trigger, conditions and steps, and the
question "why did the hall light turn on at 02:13?" is answered from the
event store, with the ``eventflux audit`` command that draws its causal chain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .clock import ManualClock
from .home import SmartHome
from .queries import Explain, GetRun, ListNotifications

__all__ = ["TITLE", "run"]

TITLE = "Smart home: devices, automations with durable timers, and why the light turned on"

START = datetime(2026, 1, 15, 17, 55, tzinfo=UTC)  # a Thursday; the home's zone is UTC


def _at(hour: int, minute: int, second: int = 0, day: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute, second=second) + timedelta(days=day)


async def run(workdir: Path) -> list[str]:
    """The evening, on SQLite files in ``workdir``; returns what happened."""
    for name in ("smarthome-events.db", "smarthome-bus.db", "smarthome-read.db"):
        for suffix in ("", "-wal", "-shm"):
            (workdir / f"{name}{suffix}").unlink(missing_ok=True)
    clock = ManualClock(START)
    lines: list[str] = []
    async with SmartHome.open(workdir, clock=clock, offline_after=timedelta(minutes=15)) as home:

        def say(text: str) -> None:
            lines.append(f"{clock.now().strftime('%H:%M:%S')}  {text}")

        # the house as it was left this morning: locked, heating on eco
        for lock in ("front.lock", "back.lock"):
            await home.command(lock, "lock")
        await home.command("living.thermostat", "set_mode", mode="eco")
        say("the house is locked, the thermostat on eco (as left this morning)")

        await home.advance_to(_at(18, 0))
        await home.command("front.lock", "unlock")
        await home.control("door", entity_id="front.door", open=True)
        await home.control("motion", entity_id="hall.motion")
        say("the family comes home: front door unlocked and opened, motion in the hall")
        await home.advance(timedelta(seconds=30))
        await home.control("door", entity_id="front.door", open=False)

        await home.advance_to(_at(18, 5))
        await home.command("back.lock", "unlock")
        await home.control("door", entity_id="back.door", open=True)
        say("the back door is unlocked and opened to bring in the shopping, and left open")
        await home.advance_to(_at(18, 10))
        await home.control("door", entity_id="back.door", open=False)
        say("the back door is closed")

        await home.advance_to(_at(19, 0), step=timedelta(minutes=5))
        await home.control("motion", entity_id="kitchen.motion")
        await home.command("kitchen.light", "turn_on", brightness=90)
        await home.control("spike", watts=3400)
        say("cooking: kitchen light on, the oven and the kettle together (+3.4 kW)")

        await home.advance_to(_at(23, 0), step=timedelta(minutes=5))
        await home.control("motion", entity_id="living.motion")
        say("the last one leaves the living room")
        await home.advance_to(_at(23, 31), step=timedelta(minutes=5))
        await home.command("back.lock", "lock")
        say("the back door is locked for the night")

        await home.advance_to(_at(2, 13, 0, day=1), step=timedelta(minutes=5))
        await home.control("motion", entity_id="hall.motion")
        say("someone walks through the hall")
        await home.advance(timedelta(minutes=3))
        await home.restart_hub()
        say("the hub restarts (in the middle of the hall light's five-minute delay)")
        await home.advance_to(_at(2, 25, 0, day=1))
        light = await home.device("hall.light")
        say(f"the hall light is {light['state'] if light else '?'} again")
        await home.advance_to(_at(3, 0, 0, day=1), step=timedelta(minutes=5))
        await home.control("intruder")
        say("the front door opens while it is locked (the intruder switch)")
        await home.advance(timedelta(seconds=20), step=timedelta(seconds=1))

        lines.append("")
        lines += await _runs(home)
        lines.append("")
        lines.append("notifications:")
        for n in reversed(await home.hub.ask(ListNotifications(20))):
            lines.append(f"  {n['at'][11:19]} {n['title']}: {n['message']}")
        lines.append("")
        lines.append("why did the hall light turn on at 02:13?")
        answer = await home.hub.ask(Explain("hall.light", state="on", at=_at(2, 14, 0, day=1)))
        lines += [f"  {line}" for line in answer.lines]
        if answer.chain is not None:
            lines.append("  the chain, hop by hop:")
            for node in answer.chain.nodes:
                lines.append(f"    {node.kind:<8} {node.name:<28} {node.stream or ''}")
        lines.append(
            f"  draw it: eventflux audit {answer.correlation_id} "
            f"--store sqlite:///{workdir}/smarthome-events.db --mermaid"
        )
    return lines


async def _runs(home: SmartHome) -> list[str]:
    """Every run, in order: what each automation did and why."""
    rows = await home.hub.read_model.fetch_all(
        "SELECT run_id, alias, status, outcome, trigger_description, started_at "
        "FROM smarthome_runs ORDER BY position"
    )
    out = [f"automation runs ({len(rows)}):"]
    for row in rows:
        trace: dict[str, Any] | None = await home.hub.ask(GetRun(str(row["run_id"])))
        outcome = row["outcome"] or row["status"]
        out.append(
            f"  {row['started_at'][11:19]} {row['alias']}: {outcome} "
            f"(trigger: {row['trigger_description']})"
        )
        if trace is None:
            continue
        if trace.get("conditions"):
            out.append(f"      conditions: {trace['conditions_text']}")
        for line in trace["lines"]:
            if "step" in line:
                out.append(f"      {line}")
    return out
