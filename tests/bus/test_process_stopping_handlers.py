"""A handler raising ``KeyboardInterrupt`` or ``SystemExit`` still stops its process
(every other ``BaseException`` is a failed delivery: see the contract suite)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from eventflux.bus import open_bus

    async def main(kind):
        async with await open_bus("memory://") as bus:
            async def handler(msg):
                if kind == "interrupt":
                    raise KeyboardInterrupt
                raise SystemExit(3)

            bus.subscribe("stop", handler, group="g")
            await bus.publish("stop", {})
            await asyncio.sleep(60)  # the handler stops the process long before
        print("not stopped", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.parametrize(("kind", "code"), [("interrupt", None), ("exit", 3)])
def test_keyboard_interrupt_and_system_exit_stop_the_process(kind: str, code: int | None) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind], capture_output=True, text=True, timeout=60
    )
    assert "not stopped" not in proc.stdout
    if code is None:
        assert proc.returncode != 0
        assert "KeyboardInterrupt" in proc.stderr
    else:
        assert proc.returncode == code
