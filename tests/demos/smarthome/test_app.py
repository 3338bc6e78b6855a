"""The hub and the devices together, through a real bus: motion turns the hall
light on, a silent device goes offline and comes back, the read models rebuild,
and the causal chain answers why the light turned on (also from the CLI)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux.cli.audit import register
from eventflux.cli.demo import available
from eventflux.demos import smarthome
from eventflux.demos.smarthome import Explain, ListAutomations, ManualClock
from eventflux.demos.smarthome.home import SmartHome
from eventflux.demos.smarthome.views import DeviceStates

NIGHT = datetime(2026, 1, 16, 2, 13, tzinfo=UTC)


@pytest.mark.asyncio
async def test_motion_turns_the_hall_light_on_through_the_bus(tmp_path: Path) -> None:
    async with SmartHome.open(tmp_path, clock=ManualClock(NIGHT)) as home:
        assert (await home.device("hall.light"))["state"] == "off"  # type: ignore[index]
        await home.control("motion", entity_id="hall.motion")
        light = await home.device("hall.light")
        assert light is not None
        assert (light["state"], light["attributes"]["brightness"]) == ("on", 40)
        await home.advance(timedelta(minutes=7))
        assert (await home.device("hall.light"))["state"] == "off"  # type: ignore[index]
        automations = {a["id"]: a for a in await home.hub.ask(ListAutomations())}
        last = automations["hall_light_at_night"]["last_run"]
        assert last["outcome"] == "done"
        assert last["trigger_description"] == "hall.motion changed from off to on"
        answer = await home.hub.ask(
            Explain("hall.light", state="on", at=NIGHT + timedelta(minutes=1))
        )
        assert answer.lines[0].startswith("hall.light turned on at 02:13:00")
        assert "because automation 'Hall light at night' ran" in answer.lines[1]
        kinds = [(n.kind, n.name) for n in answer.chain.nodes]  # type: ignore[union-attr]
        assert ("command", "run hall_light_at_night") in kinds
        assert ("message", "home.hall.light.command") in kinds
        assert kinds.index(("event", "home.motion")) < kinds.index(("event", "home.state"))
        correlation = answer.correlation_id
    cli = typer.Typer()
    register(cli)
    cli.command()(lambda: None)  # two commands: typer keeps the command names
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        [
            "audit",
            str(correlation),
            "--store",
            f"sqlite:///{tmp_path}/smarthome-events.db",
            "--mermaid",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sequenceDiagram")
    assert "run hall_light_at_night" in result.output


@pytest.mark.asyncio
async def test_a_device_without_power_goes_offline_and_comes_back(tmp_path: Path) -> None:
    clock = ManualClock(NIGHT)
    async with SmartHome.open(tmp_path, clock=clock, offline_after=timedelta(seconds=90)) as home:
        await home.control("unplug", entity_id="utility.energy", on=False)
        await home.advance(timedelta(minutes=3), step=timedelta(seconds=15))
        meter = await home.device("utility.energy")
        assert meter is not None
        assert meter["online"] is False
        assert (await home.device("hall.light"))["online"] is True  # type: ignore[index]
        notes = await home.hub.read_model.fetch_all("SELECT message FROM smarthome_notifications")
        assert [n["message"] for n in notes] == ["utility.energy stopped answering"]
        await home.control("unplug", entity_id="utility.energy", on=True)
        assert (await home.device("utility.energy"))["online"] is True  # type: ignore[index]


@pytest.mark.asyncio
async def test_the_device_states_rebuild_to_the_same_rows(tmp_path: Path) -> None:
    async with SmartHome.open(tmp_path, clock=ManualClock(NIGHT)) as home:
        await home.control("motion", entity_id="hall.motion")
        await home.command("front.lock", "lock")
        before = await home.hub.read_model.fetch_all(
            "SELECT entity_id, state, attributes, online FROM smarthome_devices ORDER BY entity_id"
        )
        replayed = await home.hub.projection_instance(DeviceStates).rebuild(home.store)
        after = await home.hub.read_model.fetch_all(
            "SELECT entity_id, state, attributes, online FROM smarthome_devices ORDER BY entity_id"
        )
        assert replayed > 0
        assert after == before
        assert {r["entity_id"]: r["state"] for r in after}["front.lock"] == '"locked"'


@pytest.mark.asyncio
async def test_the_scripted_evening(tmp_path: Path) -> None:
    lines = await smarthome.run(tmp_path)
    text = "\n".join(lines)
    assert (
        "02:13:00 Hall light at night: done (trigger: hall.motion changed from off to on)" in text
    )
    assert "02:19:00 step 3: light.turn_off hall.light sent" in text
    assert "the hub restarts" in text
    assert "Door open: back.door has been open for 0:02:00" in text
    assert "Energy spike" in text
    assert "00:01:00 Eco mode when away: done" in text
    assert "why did the hall light turn on at 02:13?" in text
    assert "eventflux audit" in text


def test_the_demo_is_listed() -> None:
    assert available()["smarthome"] is smarthome
    assert smarthome.TITLE.startswith("Smart home")
