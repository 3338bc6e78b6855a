"""What the engine holds in memory for each automation and each waiting run.

Example::

    state = AutomationState(automation)
    state.active      # run id -> RunHandle of the runs under way
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .journal import automation_stream
from .model import Automation, Trigger
from .runs import RunHandle

__all__ = ["AutomationState", "WaitListener"]


@dataclass(eq=False)
class AutomationState:
    """One automation's runs in memory (what its run mode looks at)."""

    automation: Automation
    active: dict[str, RunHandle] = field(default_factory=dict)
    queue: deque[RunHandle] = field(default_factory=deque)
    runs: int = 0
    last_run: dict[str, Any] | None = None

    @property
    def stream(self) -> str:
        return automation_stream(self.automation.id)


@dataclass(eq=False)
class WaitListener:
    """A run waiting for a trigger (a ``wait_for_trigger`` step)."""

    run: RunHandle
    path: str
    triggers: tuple[Trigger, ...]
    after: int
