"""The hub's read models, kept from the event store by projections.

- :class:`DeviceStates` (``smarthome-devices``): one row per device, its
  current state and attributes, when it was last seen and whether it is
  online, from the device streams.
- :class:`AutomationRuns` (``smarthome-runs``): one row per automation run
  (every run, not the last few), with its trigger, outcome, times and
  correlation id, and the notifications sent, from the engine's run streams.

Both are checkpointed in the read model with their rows (each event counts
once) and rebuildable: ``eventflux projections rebuild smarthome-devices
--app eventflux.demos.smarthome:app``. The SQL is portable (SQLite and
PostgreSQL).

Example::

    rows = await app.read_model.fetch_all("SELECT entity_id, state FROM smarthome_devices")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ...cqrs import Projection, Transaction, handles
from ...events import CORRELATION_ID, RecordedEvent
from .rules.journal import NOTIFIED, RUN_FINISHED, RUN_QUEUED, RUN_SKIPPED, RUN_STARTED

__all__ = ["AutomationRuns", "DeviceStates", "decode_row"]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def decode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A device row with its JSON columns decoded."""
    out = dict(row)
    for key in ("state", "attributes"):
        if isinstance(out.get(key), str):
            out[key] = orjson.loads(out[key])
    out["online"] = bool(out.get("online"))
    return out


_UPSERT = """
INSERT INTO smarthome_devices (entity_id, room, device, kind, state, attributes, online,
    last_seen, last_changed, last_event, position, correlation_id)
VALUES (:entity_id, :room, :device, :kind, :state, :attributes, 1, :at, :at, :event,
    :position, :correlation_id)
ON CONFLICT (entity_id) DO UPDATE SET
    kind = CASE WHEN :kind = '' THEN smarthome_devices.kind ELSE :kind END,
    last_changed = CASE WHEN :has_state = 1 AND smarthome_devices.state <> :state
        THEN :at ELSE smarthome_devices.last_changed END,
    state = CASE WHEN :has_state = 1 THEN :state ELSE smarthome_devices.state END,
    attributes = CASE WHEN :has_attributes = 1 THEN :attributes
        ELSE smarthome_devices.attributes END,
    last_seen = :at, last_event = :event, position = :position,
    correlation_id = :correlation_id
"""


class DeviceStates(Projection):
    """Every device's current state, last seen time and online flag."""

    name = "smarthome-devices"

    def create_schema(self, tx: Transaction) -> None:
        tx.script(
            """
            CREATE TABLE smarthome_devices (
                entity_id TEXT PRIMARY KEY, room TEXT NOT NULL, device TEXT NOT NULL,
                kind TEXT NOT NULL, state TEXT NOT NULL, attributes TEXT NOT NULL,
                online INTEGER NOT NULL, last_seen TEXT, last_changed TEXT,
                last_event TEXT NOT NULL, position BIGINT NOT NULL, correlation_id TEXT);
            CREATE INDEX smarthome_devices_by_room ON smarthome_devices (room, device);
            """
        )

    def _seen(self, tx: Transaction, e: RecordedEvent) -> None:
        data = e.data
        entity_id = data.get("entity_id")
        if not isinstance(entity_id, str):
            return
        room, _, device = entity_id.partition(".")
        tx.execute(
            _UPSERT,
            {
                "entity_id": entity_id,
                "room": room,
                "device": device,
                "kind": str(data.get("kind") or ""),
                "state": _json(data.get("state")),
                "has_state": 1 if "state" in data else 0,
                "attributes": _json(data.get("attributes") or {}),
                "has_attributes": 1 if "attributes" in data else 0,
                "at": str(data.get("at") or e.recorded_at.isoformat()),
                "event": e.type,
                "position": e.position,
                "correlation_id": str(e.metadata.get(CORRELATION_ID) or e.id),
            },
        )

    def _online(self, tx: Transaction, e: RecordedEvent, online: int) -> None:
        tx.execute(
            "UPDATE smarthome_devices SET online = :online, position = :position "
            "WHERE entity_id = :entity_id",
            {"online": online, "position": e.position, "entity_id": e.data.get("entity_id")},
        )

    @handles("home.state")
    def state(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.motion")
    def motion(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.contact")
    def contact(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.temperature")
    def temperature(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.power")
    def power(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.heartbeat")
    def heartbeat(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._seen(tx, e)

    @handles("home.offline")
    def offline(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._online(tx, e, 0)

    @handles("home.online")
    def online(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._online(tx, e, 1)


class AutomationRuns(Projection):
    """Every automation run, and every notification sent."""

    name = "smarthome-runs"

    def create_schema(self, tx: Transaction) -> None:
        tx.script(
            """
            CREATE TABLE smarthome_runs (
                run_id TEXT PRIMARY KEY, automation_id TEXT NOT NULL, alias TEXT NOT NULL,
                stream TEXT NOT NULL, correlation_id TEXT NOT NULL, status TEXT NOT NULL,
                outcome TEXT, trigger_id TEXT, trigger_description TEXT,
                started_at TEXT NOT NULL, finished_at TEXT, position BIGINT NOT NULL);
            CREATE INDEX smarthome_runs_by_automation ON smarthome_runs (automation_id, position);
            CREATE TABLE smarthome_notifications (
                event_id TEXT PRIMARY KEY, automation_id TEXT, target TEXT NOT NULL,
                title TEXT NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL,
                correlation_id TEXT NOT NULL, position BIGINT NOT NULL);
            """
        )

    def _opened(self, tx: Transaction, e: RecordedEvent, status: str, outcome: str | None) -> None:
        data = e.data
        trigger = data.get("trigger") or {}
        tx.execute(
            """
            INSERT INTO smarthome_runs (run_id, automation_id, alias, stream, correlation_id,
                status, outcome, trigger_id, trigger_description, started_at, finished_at,
                position)
            VALUES (:run_id, :automation_id, :alias, :stream, :correlation_id, :status,
                :outcome, :trigger_id, :description, :at, :finished, :position)
            ON CONFLICT (run_id) DO UPDATE SET status = :status, started_at = :at
            """,
            {
                "run_id": str(data.get("run_id")),
                "automation_id": str(data.get("automation")),
                "alias": str(data.get("alias") or data.get("automation")),
                "stream": e.stream,
                "correlation_id": str(e.metadata.get(CORRELATION_ID) or e.id),
                "status": status,
                "outcome": outcome,
                "trigger_id": str(trigger.get("id", "")),
                "description": str(trigger.get("description", "")),
                "at": str(data.get("at") or e.recorded_at.isoformat()),
                "finished": str(data.get("at")) if outcome else None,
                "position": e.position,
            },
        )

    @handles(RUN_STARTED)
    def started(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._opened(tx, e, "running", None)

    @handles(RUN_QUEUED)
    def queued(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._opened(tx, e, "queued", None)

    @handles(RUN_SKIPPED)
    def skipped(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        self._opened(tx, e, "skipped", str(e.data.get("reason")))

    @handles(RUN_FINISHED)
    def finished(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        data = e.data
        outcome = str(data.get("outcome"))
        if data.get("reason"):
            outcome = f"{outcome}: {data['reason']}"
        if data.get("error"):
            outcome = f"{outcome}: {data['error']}"
        tx.execute(
            "UPDATE smarthome_runs SET status = 'finished', outcome = :outcome, "
            "finished_at = :at WHERE run_id = :run_id",
            {"outcome": outcome, "at": str(data.get("at")), "run_id": str(data.get("run_id"))},
        )

    @handles(NOTIFIED)
    def notified(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
        data = e.data
        tx.execute(
            "INSERT INTO smarthome_notifications (event_id, automation_id, target, title, "
            "message, at, correlation_id, position) VALUES (:id, :automation, :target, :title, "
            ":message, :at, :correlation_id, :position)",
            {
                "id": str(e.id),
                "automation": e.metadata.get("automation"),
                "target": str(data.get("target")),
                "title": str(data.get("title") or ""),
                "message": str(data.get("message")),
                "at": str(data.get("at")),
                "correlation_id": str(e.metadata.get(CORRELATION_ID) or e.id),
                "position": e.position,
            },
        )
