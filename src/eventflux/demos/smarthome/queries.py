"""The hub's queries (``app.ask(...)``): devices, automations, runs, notifications, why.

Example::

    devices = await app.ask(ListDevices())
    answer = await app.ask(Explain("hall.light", state="on"))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Explain", "GetRun", "ListAutomations", "ListDevices", "ListNotifications"]


@dataclass(frozen=True)
class ListDevices:
    """Every device's state (the ``smarthome-devices`` read model)."""


@dataclass(frozen=True)
class ListAutomations:
    """The automations, each with its last run (engine and ``smarthome-runs``)."""


@dataclass(frozen=True)
class GetRun:
    """One run's trace: trigger, conditions, timed steps (from its stream)."""

    run_id: str


@dataclass(frozen=True)
class ListNotifications:
    limit: int = 20


@dataclass(frozen=True)
class Explain:
    """Why ``entity_id`` was in ``state`` at ``at`` (default: its state now)."""

    entity_id: str
    state: Any = None
    at: datetime | None = None
