"""Every runnable ```python block of docs/bus.md runs without error (the blocks assert).

The two service files of the orders-and-payments section are runnable too:
they are loaded and their ``setup`` is run on a memory bus.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.docs._blocks import python_blocks

from eventflux.bus import open_bus

DOC = Path(__file__).resolve().parents[2] / "docs" / "bus.md"
BLOCKS = python_blocks(DOC)
SERVICES = {code.splitlines()[0]: (line, code) for line, code in BLOCKS if code.startswith("# ")}
PROGRAMS = [(line, code) for line, code in BLOCKS if not code.startswith("# ")]


def _load(line: int, code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"bus_md_line{line}"}
    exec(compile("\n" * (line - 1) + code, str(DOC), "exec", dont_inherit=True), namespace)
    return namespace


def test_the_guide_has_its_blocks() -> None:
    assert len(PROGRAMS) >= 9
    assert all("asyncio.run(main())" in code for _, code in PROGRAMS)
    assert set(SERVICES) == {"# orders_service.py", "# payments_service.py"}


@pytest.mark.parametrize(("line", "code"), PROGRAMS, ids=[f"line{line}" for line, _ in PROGRAMS])
def test_block_runs(line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _load(line, code)


@pytest.mark.asyncio
async def test_the_two_services_work_together() -> None:
    orders = _load(*SERVICES["# orders_service.py"])
    payments = _load(*SERVICES["# payments_service.py"])
    async with await open_bus("memory://") as bus:
        await payments["setup"](bus)
        await payments["setup"](bus)  # two payment workers
        await orders["setup"](bus)
        for _ in range(500):
            if len(orders["PAID"]) == 100:
                break
            await asyncio.sleep(0.02)
    assert sorted(orders["PAID"]) == list(range(1, 101))
