"""Durations and times of day as automations write them.

A duration is a number of seconds, ``"HH:MM:SS"`` (or ``"HH:MM"``, seconds
may have a fraction), or a mapping of ``days``, ``hours``, ``minutes``,
``seconds`` and ``milliseconds``, as in Home Assistant. A time of day is
``"HH:MM"`` or ``"HH:MM:SS"``.

Example::

    parse_duration("00:05:00") == parse_duration({"minutes": 5}) == timedelta(minutes=5)
    parse_time_of_day("22:30") == time(22, 30)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any, Final

__all__ = ["format_duration", "parse_duration", "parse_time_of_day"]

_CLOCK: Final = re.compile(r"^(\d{1,3}):([0-5]?\d)(?::([0-5]?\d(?:\.\d+)?))?$")
_UNITS: Final = ("days", "hours", "minutes", "seconds", "milliseconds")


def parse_duration(value: Any) -> timedelta:
    """A non-negative duration from seconds, ``"HH:MM[:SS]"`` or a mapping of units.

    Raises ValueError (saying what was expected) for anything else.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    elif isinstance(value, int | float):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        m = _CLOCK.match(value.strip())
        if m is None:
            raise ValueError(f"expected a duration like '00:05:00', got {value!r}")
        hours, minutes, secs = m.groups()
        result = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(secs or 0))
    elif isinstance(value, Mapping):
        unknown = [k for k in value if k not in _UNITS]
        if unknown or not value:
            raise ValueError(
                f"a duration mapping takes {', '.join(_UNITS)}, got {', '.join(map(str, value))}"
            )
        parts: dict[str, float] = {}
        for unit, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise ValueError(f"{unit} must be a number, got {amount!r}")
            parts[str(unit)] = float(amount)
        result = timedelta(**parts)
    else:
        raise ValueError(f"expected a duration, got {value!r}")
    if result < timedelta(0):
        raise ValueError(f"a duration cannot be negative ({value!r})")
    return result


def parse_time_of_day(value: Any) -> time:
    """``"HH:MM"`` or ``"HH:MM:SS"`` as a :class:`datetime.time`."""
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        m = _CLOCK.match(value.strip())
        if m is not None:
            hours, minutes, secs = int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)
            if hours < 24:
                whole = int(secs)
                return time(hours, minutes, whole, round((secs - whole) * 1_000_000))
    raise ValueError(f"expected a time of day like '22:30' or '06:00:00', got {value!r}")


def format_duration(delta: timedelta) -> str:
    """``0:05:00`` style text for traces and messages."""
    total = delta.total_seconds()
    hours, rest = divmod(int(total), 3600)
    minutes, secs = divmod(rest, 60)
    fraction = total - int(total)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return text + (f"{fraction:.3f}"[1:] if fraction else "")
