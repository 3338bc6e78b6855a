"""The rules engine alone in a process, for the crash tests: a SQLite store, a
clock read from a file, automations from a YAML file; writes a ready file."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from eventflux import open_store
from eventflux.demos.smarthome.clock import FileClock
from eventflux.demos.smarthome.rules.engine import RulesEngine
from eventflux.demos.smarthome.rules.parse import load_automations_file


async def main(store_url: str, clock_file: str, automations: str, ready: str) -> None:
    engine = RulesEngine(
        load_automations_file(automations),
        clock=FileClock(clock_file),
        tz="UTC",
        offline_after=timedelta(days=30),
    )
    async with await open_store(store_url) as store:
        task = asyncio.create_task(engine.run(store))
        await engine.wait_ready()
        Path(ready).write_text("ready")  # noqa: ASYNC240 - one small local file
        await task


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
