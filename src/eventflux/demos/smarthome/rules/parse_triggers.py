"""Reading an automation's triggers: event, state, numeric_state, time, cron
and offline (the ``trigger:`` or older ``platform:`` spelling).

:class:`TriggerReader` is a part of the reader in :mod:`.parse`; a wait
(``wait_for_trigger``, :mod:`.parse_actions`) reads its triggers here too,
limited to the kinds it can wait for.

Example::

    trigger = reader.trigger(node)      # node: {"trigger": "state", "entity_id": ...}
"""

from __future__ import annotations

from typing import Any

from ....bus.subjects import validate_subject
from .cron import CronError, CronSpec
from .durations import parse_time_of_day
from .model import (
    CronTrigger,
    EventTrigger,
    NumericStateTrigger,
    OfflineTrigger,
    StateTrigger,
    TimeTrigger,
    Trigger,
)
from .parse_nodes import FieldReader, Node

__all__ = ["TriggerReader"]


class TriggerReader(FieldReader):
    """Reads one trigger."""

    def trigger(self, node: Node, *, allowed: tuple[str, ...] | None = None) -> Trigger:
        node.mapping("a trigger")
        kind = node.need("trigger", "platform").text()
        if allowed is not None and kind not in allowed:
            node.fail(f"a wait takes {', '.join(allowed)} triggers, not {kind!r}", "trigger")
        id_node = node.child("id")
        common: dict[str, Any] = {"id": id_node.text() if id_node else ""}
        trigger: Trigger
        if kind == "event":
            subject_node = node.need("subject", "event_type")
            subject = subject_node.text()
            try:
                validate_subject(subject, pattern=True)
            except ValueError as e:
                subject_node.fail(str(e))
            data_node = node.child("event_data")
            data = dict(data_node.mapping("event data").value) if data_node else {}
            trigger = EventTrigger(subject=subject, event_data=data, **common)
        elif kind == "state":
            to, from_ = node.child("to"), node.child("from")
            not_to, not_from = node.child("not_to"), node.child("not_from")
            trigger = StateTrigger(
                entity_id=node.need("entity_id").entities(),
                attribute=self.optional_text(node, "attribute"),
                to=to.values() if to else None,
                from_=from_.values() if from_ else None,
                not_to=not_to.values() if not_to else (),
                not_from=not_from.values() if not_from else (),
                for_=self.optional_duration(node, "for"),
                **common,
            )
        elif kind == "numeric_state":
            above, below = self.bounds(node)
            trigger = NumericStateTrigger(
                entity_id=node.need("entity_id").entities(),
                attribute=self.optional_text(node, "attribute"),
                above=above,
                below=below,
                for_=self.optional_duration(node, "for"),
                **common,
            )
        elif kind == "time":
            times = []
            for n in node.need("at").items():
                try:
                    times.append(parse_time_of_day(n.value))
                except ValueError as e:
                    n.fail(str(e))
            trigger = TimeTrigger(at=tuple(times), **common)
        elif kind == "cron":
            cron_node = node.need("cron")
            try:
                spec = CronSpec.parse(cron_node.text())
            except CronError as e:
                cron_node.fail(str(e))
            trigger = CronTrigger(cron=spec, **common)
        elif kind == "offline":
            entity_node = node.child("entity_id")
            trigger = OfflineTrigger(
                entity_id=entity_node.entities() if entity_node else (), **common
            )
        else:
            node.fail(
                f"unknown trigger {kind!r} (event, state, numeric_state, time, cron, offline)",
                "trigger" if node.has("trigger") else "platform",
            )
        node.done()
        return trigger
