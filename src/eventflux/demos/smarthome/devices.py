"""The simulated devices: what each kind holds, which commands it obeys.

Every device has a room and a name (its entity id is ``<room>.<name>``), a
kind, a ``state`` and ``attributes``, as in Home Assistant:

====================  =======================  ==========================================
kind                  state                    commands (data)
====================  =======================  ==========================================
``light``             ``on`` / ``off``         ``turn_on`` (brightness 1-100), ``turn_off``,
                                               ``toggle``
``thermostat``        ``heat``/``eco``/``off`` ``set_temperature`` (temperature),
                                               ``set_mode`` (mode)
``motion``            ``on`` / ``off``         none (a sensor)
``lock``              ``locked``/``unlocked``  ``lock``, ``unlock``
``contact``           ``open`` / ``closed``    none (a sensor)
``energy``            watts now (a number)     none (a meter; attribute ``energy_kwh``)
====================  =======================  ==========================================

Example::

    light = Device("hall", "light", "light")
    light.command("turn_on", {"brightness": 40})     # True: it changed
    light.payload(now)       # {"kind": "light", "state": "on", "attributes": {...}, "at": ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ...exceptions import ConfigurationError

__all__ = ["CATALOG", "HOUSE", "Device", "DeviceCommandError", "house"]

#: device kind -> the commands it obeys
CATALOG: Final[Mapping[str, frozenset[str]]] = {
    "light": frozenset({"turn_on", "turn_off", "toggle"}),
    "thermostat": frozenset({"set_temperature", "set_mode"}),
    "motion": frozenset(),
    "lock": frozenset({"lock", "unlock"}),
    "contact": frozenset(),
    "energy": frozenset(),
}
_MODES: Final = ("heat", "eco", "off")

#: the demo's home: (room, device name, kind)
HOUSE: Final = (
    ("hall", "light", "light"),
    ("hall", "motion", "motion"),
    ("living", "light", "light"),
    ("living", "motion", "motion"),
    ("living", "thermostat", "thermostat"),
    ("kitchen", "light", "light"),
    ("kitchen", "motion", "motion"),
    ("bedroom", "light", "light"),
    ("bedroom", "motion", "motion"),
    ("front", "lock", "lock"),
    ("front", "door", "contact"),
    ("back", "lock", "lock"),
    ("back", "door", "contact"),
    ("utility", "energy", "energy"),
)


class DeviceCommandError(ConfigurationError):
    """A command the device does not know, or with data it cannot use."""


def _initial(kind: str) -> tuple[Any, dict[str, Any]]:
    if kind == "light":
        return "off", {"brightness": 0}
    if kind == "thermostat":
        return "heat", {"setpoint": 21.0, "current_temperature": 19.5}
    if kind == "motion":
        return "off", {}
    if kind == "lock":
        return "unlocked", {}
    if kind == "contact":
        return "closed", {}
    if kind == "energy":
        return 320.0, {"energy_kwh": 0.0}
    raise ConfigurationError(f"no device kind {kind!r} (known: {', '.join(CATALOG)})")


@dataclass
class Device:
    """One simulated device and its current state."""

    room: str
    name: str
    kind: str
    state: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    #: False while the device is unplugged or the power is off: it says nothing
    powered: bool = True

    def __post_init__(self) -> None:
        state, attributes = _initial(self.kind)
        if self.state is None:
            self.state = state
        self.attributes = {**attributes, **self.attributes}

    @property
    def entity_id(self) -> str:
        return f"{self.room}.{self.name}"

    def subject(self, event: str) -> str:
        """``home.<room>.<device>.<event>``."""
        return f"home.{self.room}.{self.name}.{event}"

    def payload(self, at: datetime) -> dict[str, Any]:
        """What the device says about itself now."""
        return {
            "kind": self.kind,
            "state": self.state,
            "attributes": dict(self.attributes),
            "at": at.isoformat(),
        }

    def set(self, state: Any, **attributes: Any) -> bool:
        """Change state and attributes; True if anything changed."""
        changed = state != self.state or any(
            self.attributes.get(k) != v for k, v in attributes.items()
        )
        self.state = state
        self.attributes.update(attributes)
        return changed

    def command(self, command: str, data: Mapping[str, Any] | None = None) -> bool:
        """Obey ``command``; True if the state changed. Raises
        :class:`DeviceCommandError` for a command this kind does not know."""
        data = data or {}
        if command not in CATALOG[self.kind]:
            raise DeviceCommandError(
                f"{self.entity_id} ({self.kind}) has no command {command!r}; "
                f"it knows {', '.join(sorted(CATALOG[self.kind])) or 'none'}"
            )
        if self.kind == "light":
            if command == "toggle":
                command = "turn_off" if self.state == "on" else "turn_on"
            if command == "turn_off":
                return self.set("off", brightness=0)
            brightness = data.get("brightness", self.attributes.get("brightness") or 100)
            if not isinstance(brightness, int | float) or not 1 <= brightness <= 100:
                raise DeviceCommandError(f"brightness is 1 to 100, not {brightness!r}")
            return self.set("on", brightness=int(brightness))
        if self.kind == "lock":
            return self.set("locked" if command == "lock" else "unlocked")
        if command == "set_mode":
            mode = data.get("mode")
            if mode not in _MODES:
                raise DeviceCommandError(f"a thermostat mode is one of {', '.join(_MODES)}")
            return self.set(mode)
        value = data.get("temperature")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 5 <= value <= 30:
            raise DeviceCommandError(f"a temperature is 5 to 30 degrees, not {value!r}")
        return self.set(self.state, setpoint=float(value))


def house(layout: tuple[tuple[str, str, str], ...] = HOUSE) -> dict[str, Device]:
    """Fresh devices for ``layout``, by entity id."""
    devices = [Device(room, name, kind) for room, name, kind in layout]
    return {d.entity_id: d for d in devices}
