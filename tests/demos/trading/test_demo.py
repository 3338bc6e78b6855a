"""``eventflux demo trading``: the scripted day runs and tells its story."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventflux.cli.demo import available
from eventflux.demos import trading


@pytest.mark.asyncio
async def test_the_scripted_day(tmp_path: Path) -> None:
    lines = await trading.run(tmp_path, steps=80)
    text = "\n".join(lines)
    assert "duplicate=True" in text
    assert "ACME's fair price collapses 15% in a flash" in text
    assert "rejected (trading in ACME is halted)" in text
    assert "ACME halted: price moved" in text
    assert "ACME resumed: cooldown of 30 s over" in text
    assert "tape summary" in text
    assert any(line.strip().startswith("ann ") for line in lines)
    assert "trading-events.db" in {p.name for p in tmp_path.iterdir()}  # noqa: ASYNC240


def test_the_demo_is_listed() -> None:
    assert available()["trading"] is trading
    assert trading.TITLE.startswith("Trading")
