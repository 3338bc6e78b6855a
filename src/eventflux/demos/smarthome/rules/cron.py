"""Five-field cron expressions (minute hour day-of-month month day-of-week).

Each field is ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n``,
or a comma-separated list of those; months and weekdays may be named
(``jan``, ``mon``); weekday 0 and 7 are Sunday. As in cron, when both the
day of month and the day of week are restricted, a day matching either one
fires.

Example::

    spec = CronSpec.parse("*/15 7-9 * * mon-fri")
    spec.next_after(datetime(2026, 1, 15, 7, 3))   # 2026-01-15 07:15 (naive, local)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

__all__ = ["CronError", "CronSpec"]

_MONTHS: Final = [
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
]
_DAYS: Final = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: how far ahead a time is searched for (an expression like "0 0 31 2 *" never fires)
_HORIZON_DAYS: Final = 366 * 5


class CronError(ValueError):
    """A cron expression that cannot be read (the message says which part)."""


def _value(text: str, low: int, high: int, names: tuple[str, ...] | None, offset: int) -> int:
    if names is not None and text.lower() in names:
        return names.index(text.lower()) + offset
    try:
        value = int(text)
    except ValueError:
        raise CronError(f"{text!r} is not a number from {low} to {high}") from None
    if not low <= value <= high:
        raise CronError(f"{value} is out of range {low}-{high}")
    return value


def _field(
    text: str, low: int, high: int, names: tuple[str, ...] | None = None, offset: int = 0
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            step = _value(step_text, 1, high, None, 0)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, low, high, names, offset), _value(b, low, high, names, offset)
            if end < start:
                raise CronError(f"range {base!r} runs backwards")
        else:
            start = _value(base, low, high, names, offset)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression; :meth:`next_after` finds its next time."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSpec:
        """Read ``text``; raises :class:`CronError` naming the bad field."""
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"a cron expression has 5 fields, {text!r} has {len(parts)}")
        labels = ("minute", "hour", "day of month", "month", "day of week")
        try:
            fields = []
            for i, (part, (low, high, names, offset)) in enumerate(
                zip(
                    parts,
                    (
                        (0, 59, None, 0),
                        (0, 23, None, 0),
                        (1, 31, None, 0),
                        (1, 12, tuple(_MONTHS), 1),
                        (0, 7, tuple(_DAYS), 0),
                    ),
                    strict=True,
                )
            ):
                label = labels[i]
                fields.append(_field(part, low, high, names, offset))
        except CronError as e:
            raise CronError(f"{label}: {e}") from None
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(
            text,
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            weekdays,
            parts[2] == "*",
            parts[4] == "*",
        )

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return in_weekdays
        if self.any_weekday:
            return in_days
        return in_days or in_weekdays

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute strictly after ``moment`` (naive local
        time in, naive local time out), or None if none comes within 5 years."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for n in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day = start.replace(hour=0, minute=0) + timedelta(days=n + 1)
        return None
