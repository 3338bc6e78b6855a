"""When time triggers fire: the next time of day or cron time after a moment.

Example::

    next_time(TimeTrigger(at=(time(23, 30),)), now, ZoneInfo("Europe/Paris"))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from .model import CronTrigger, TimeTrigger, Trigger

__all__ = ["next_time", "spec_text"]


def spec_text(trigger: Trigger) -> str:
    """What a time trigger's schedule is, as text (a changed one is rescheduled)."""
    if isinstance(trigger, TimeTrigger):
        return "at " + ",".join(t.isoformat() for t in trigger.at)
    if isinstance(trigger, CronTrigger):
        return "cron " + trigger.cron.text
    return ""


def next_time(trigger: Trigger, after: datetime, tz: tzinfo) -> datetime | None:
    """The first time ``trigger`` fires strictly after ``after`` (aware UTC)."""
    local = after.astimezone(tz)
    if isinstance(trigger, TimeTrigger):
        candidates = []
        for day in (0, 1):
            date = (local + timedelta(days=day)).date()
            for at in trigger.at:
                moment = datetime.combine(date, at, tzinfo=tz)
                if moment > local:
                    candidates.append(moment)
        return min(candidates).astimezone(UTC) if candidates else None
    if isinstance(trigger, CronTrigger):
        found = trigger.cron.next_after(local.replace(tzinfo=None))
        return None if found is None else found.replace(tzinfo=tz).astimezone(UTC)
    return None
