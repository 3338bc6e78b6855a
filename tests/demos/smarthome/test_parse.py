"""Loading automations: the shipped file, and mistakes named by file, line and field."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from eventflux import ConfigurationError
from eventflux.demos.smarthome import AUTOMATIONS_FILE, CATALOG, HOUSE
from eventflux.demos.smarthome.rules.model import (
    Automation,
    AutomationError,
    ChooseAction,
    CronTrigger,
    DelayAction,
    NotifyAction,
    StateTrigger,
    TimeTrigger,
    WaitForTriggerAction,
)
from eventflux.demos.smarthome.rules.parse import (
    load_automations,
    load_automations_file,
    load_automations_text,
)

ENTITIES = {f"{room}.{name}" for room, name, _ in HOUSE}


def test_the_shipped_automations_load() -> None:
    automations = load_automations_file(AUTOMATIONS_FILE, entities=ENTITIES, catalog=CATALOG)
    by_id = {a.id: a for a in automations}
    assert set(by_id) >= {"hall_light_at_night", "eco_when_away", "door_left_open", "energy_spike"}
    hall = by_id["hall_light_at_night"]
    assert hall.mode == "restart"
    assert isinstance(hall.actions[1], WaitForTriggerAction)
    assert hall.actions[2] == DelayAction(timedelta(minutes=5))
    door = by_id["door_left_open"].triggers[0]
    assert isinstance(door, StateTrigger)
    assert door.for_ == timedelta(minutes=2)
    assert door.to == ("open",)
    assert isinstance(by_id["good_night"].triggers[0], TimeTrigger)
    assert isinstance(by_id["good_night"].actions[0], ChooseAction)
    morning = by_id["morning_heat"]
    assert isinstance(morning.triggers[0], CronTrigger)
    assert morning.missed == "skip"
    assert isinstance(by_id["energy_spike"].actions[0], NotifyAction)
    assert hall.source == f"{AUTOMATIONS_FILE}:4"


def test_on_and_off_stay_strings_and_times_stay_times() -> None:
    (a,) = load_automations_text(
        """
- id: a
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: on
      from: off
    - trigger: time
      at: 22:30
  actions:
    - delay: 00:05:00
"""
    )
    state, at = a.triggers
    assert isinstance(state, StateTrigger)
    assert state.to == ("on",)
    assert state.from_ == ("off",)
    assert isinstance(at, TimeTrigger)
    assert at.at == (time(22, 30),)
    assert a.actions == (DelayAction(timedelta(minutes=5)),)


def error(text: str, **kwargs: object) -> AutomationError:
    with pytest.raises(AutomationError) as caught:
        load_automations_text(text, "home.yaml", **kwargs)  # type: ignore[arg-type]
    return caught.value


BASE = """- id: a
  triggers:
    - trigger: state
      entity_id: hall.motion
      to: "on"
  actions:
    - action: light.turn_on
      target: {entity_id: hall.light}
"""


@pytest.mark.parametrize(
    ("change", "line", "field", "says"),
    [
        (('to: "on"', 'too: "on"'), 5, "[0].triggers[0].too", "unknown field 'too'"),
        (("trigger: state", "trigger: sate"), 3, "[0].triggers[0].trigger", "unknown trigger"),
        (
            ("entity_id: hall.motion", "entity_id: hallmotion"),
            4,
            "[0].triggers[0].entity_id",
            "'<room>.<device>'",
        ),
        (
            ("entity_id: hall.motion", "entity_id: hall.moton"),
            4,
            "[0].triggers[0].entity_id",
            "no device 'hall.moton'",
        ),
        (
            ("light.turn_on", "light.explode"),
            7,
            "[0].actions[0].action",
            "light has no command 'explode'",
        ),
        (("light.turn_on", "toaster.toast"), 7, "[0].actions[0].action", "no device kind"),
        (("- id: a", "- id: a b"), 1, "[0].id", "letters, digits"),
        (("  actions:", "  mode: sometimes\n  actions:"), 6, "[0].mode", "mode must be one of"),
    ],
)
def test_a_mistake_names_the_file_line_and_field(
    change: tuple[str, str], line: int, field: str, says: str
) -> None:
    e = error(BASE.replace(*change), entities=ENTITIES, catalog=CATALOG)
    assert (e.file, e.line, e.field) == ("home.yaml", line, field)
    assert says in str(e)
    assert str(e).startswith(f"home.yaml:{line}: field {field!r}:")
    assert isinstance(e, ConfigurationError)


def test_more_mistakes() -> None:
    e = error(BASE.replace("  actions:", "  max: 0\n  actions:"))
    assert (e.line, e.field) == (6, "[0].max")
    e = error(BASE + "    - delay: soon\n")
    assert (e.line, e.field) == (9, "[0].actions[1].delay")
    assert "expected a duration" in str(e)
    e = error(BASE + BASE)
    assert (e.line, e.field) == (9, "[1].id")
    assert "a second automation" in str(e)
    e = error(
        BASE.replace('to: "on"', "above: 5\n      below: 1").replace("state", "numeric_state")
    )
    assert e.field == "[0].triggers[0].above"
    e = error(BASE + "    - wait_for_trigger:\n        - trigger: time\n          at: '10:00'\n")
    assert e.line == 10
    assert "a wait takes event, state, numeric_state, offline" in str(e)
    e = error(
        BASE.replace("trigger: state", "trigger: cron\n      cron: '61 * * * *'").replace(
            '      entity_id: hall.motion\n      to: "on"\n', ""
        )
    )
    assert e.field == "[0].triggers[0].cron"
    assert "minute: 61 is out of range" in str(e)
    e = error("- id: a\n  triggers: [\n")
    assert e.line is not None
    assert "not valid YAML" in str(e)
    e = error("- id: a\n  id: b\n")
    assert e.line == 2
    assert "given twice" in str(e)
    e = error(BASE.replace("  actions:\n", "  conditions:\n    - condition: time\n  actions:\n"))
    assert e.field == "[0].conditions[0]"
    assert "give 'after', 'before' or 'weekday'" in str(e)


def test_the_older_platform_spelling_loads() -> None:
    (a,) = load_automations_text(BASE.replace("trigger: state", "platform: state"))
    assert isinstance(a.triggers[0], StateTrigger)


def test_automations_from_python_dicts_are_checked_the_same_way() -> None:
    (a,) = load_automations(
        [
            {
                "id": "py",
                "triggers": [{"trigger": "offline"}],
                "actions": [{"action": "notify.phone", "data": {"message": "gone"}}],
            }
        ]
    )
    assert a.actions == (NotifyAction("phone", "gone"),)
    with pytest.raises(AutomationError) as caught:
        load_automations([{"id": "py", "triggers": [], "actions": []}], file=None)
    assert caught.value.file is None
    assert caught.value.field
    assert str(caught.value).startswith("<python>")


def test_a_dataclass_automation_is_checked_too() -> None:
    with pytest.raises(AutomationError, match="mode must be one of"):
        Automation(id="x", triggers=(StateTrigger(entity_id=("a.b",)),), actions=(), mode="x")  # type: ignore[arg-type]
    with pytest.raises(AutomationError, match="at least one trigger"):
        Automation(id="x", triggers=(), actions=())


def test_a_file_is_read_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BASE.replace("action: light.turn_on", "action: light"))
    with pytest.raises(AutomationError) as caught:
        load_automations_file(path)
    assert (caught.value.file, caught.value.line) == (str(path), 7)
