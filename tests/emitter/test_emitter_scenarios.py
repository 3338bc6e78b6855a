"""The four in-process demo scenarios run and tell the same story every time."""

from __future__ import annotations

import pytest

from eventflux.demos.emitter_scenarios import SCENARIOS, TITLE


def test_scenarios_are_the_four_founding_examples() -> None:
    assert list(SCENARIOS) == ["chat", "orders", "smarthome", "trading"]
    assert TITLE


@pytest.mark.parametrize("name", ["chat", "orders", "smarthome", "trading"])
def test_each_scenario_is_deterministic(name: str) -> None:
    first = SCENARIOS[name]()
    assert first
    assert all(isinstance(line, str) for line in first)
    assert SCENARIOS[name]() == first


def test_chat() -> None:
    lines = SCENARIOS["chat"]()
    assert "#general <ada> Hello!" in lines
    assert "#general: refused: linus is not in #general" in lines
    assert lines[-2:] == ["ada's screen: grace: Hi Ada", "grace's screen: ada: Hello!"]


def test_orders() -> None:
    lines = SCENARIOS["orders"]()
    assert lines.index("orders: o-1 created for ada") < lines.index("payments: charged o-1 (49.99)")
    assert "orders: o-2 cancelled (card declined)" in lines
    assert "waiter: o-3 was paid" in lines
    assert lines[-1] == "status: o-1=shipped, o-2=cancelled, o-3=shipped"


def test_smarthome() -> None:
    lines = SCENARIOS["smarthome"]()
    assert lines[:2] == ["device event in hall", "light in hall is on"]
    assert lines.count("light in hall is on") == 1
    assert lines[-1] == "lights: hall=off, kitchen=off"


def test_trading() -> None:
    lines = SCENARIOS["trading"]()
    assert "bought 5 INITECH at 48, cash left 760" in lines
    assert lines.index("risk: not enough cash for 5 ACME at 97") + 1 == lines.index(
        "trading: order skipped"
    )
    assert lines[-1] == "portfolio: cash=265 ACME=5, INITECH=5"
